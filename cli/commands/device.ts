import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { Command, Option } from "commander";
import { DeviceDirection, DeviceSchema, DeviceService, type Device } from "../../gen/rollcall/identity/v1/device_pb.js";
import { protoJson, time, type Output } from "../output.js";
import { findDevice, listAll } from "../resolve.js";
import { withMesh } from "../run.js";

/** What an agent needs to authenticate; the secret is never shown again, so keep it private. */
export interface DeviceCredentials {
  addr: string;
  organizationId: string;
  deviceId: string;
  name: string;
  secret: string;
}

async function saveCredentials(file: string, credentials: DeviceCredentials): Promise<void> {
  await mkdir(path.dirname(path.resolve(file)), { recursive: true });
  await writeFile(file, JSON.stringify(credentials, null, 2) + "\n", { mode: 0o600 });
}

async function showSecret(out: Output, device: Device, secret: string, addr: string, save: string | undefined, verb: string): Promise<void> {
  const credentials: DeviceCredentials = { addr, organizationId: device.organizationId, deviceId: device.id, name: device.name, secret };
  if (save) await saveCredentials(save, credentials);
  out.result({ device: protoJson(DeviceSchema, device), secret, savedTo: save ?? null }, () => {
    out.line(`${verb} device ${device.name} (${DeviceDirection[device.direction]}), id ${device.id}`);
    out.line(`secret (shown only now): ${secret}`);
    if (save) out.line(`credentials saved to ${save} (mode 0600) for \`rollcall agent\``);
  });
}

/** rollcall device add|list|rotate-secret|disable. */
export function deviceCommand(): Command {
  const device = new Command("device").description("manage camera devices (agents)");

  device.command("add <name>")
    .description("register a camera; prints its secret once")
    .addOption(new Option("-d, --direction <direction>", "which events it records").choices(["in", "out", "both"]).makeOptionMandatory())
    .option("-l, --location <text>", "where it is, e.g. \"Main gate\"", "")
    .option("--save <file>", "also write the credentials (id, secret, address) to this file, mode 0600")
    .action(withMesh<{ direction: string; location: string; save?: string }>(async ({ conn, out }, opts, name: string) => {
      const direction = DeviceDirection[opts.direction.toUpperCase() as "IN" | "OUT" | "BOTH"];
      const answer = await conn.client(DeviceService).registerDevice({ name, location: opts.location, direction });
      await showSecret(out, answer.device!, answer.secret, conn.addr, opts.save, "registered");
    }));

  device.command("list")
    .description("list cameras")
    .option("--active", "only active ones")
    .action(withMesh<{ active?: boolean }>(async ({ conn, out }, opts) => {
      const devices = await listAll(async (pageToken) => {
        const page = await conn.client(DeviceService).listDevices({ isActive: opts.active ? true : undefined, page: { pageSize: 500, pageToken } });
        return { items: page.devices, next: page.page?.nextPageToken ?? "" };
      });
      out.result({ devices: devices.map((d) => protoJson(DeviceSchema, d)) }, () =>
        out.table(["NAME", "DIRECTION", "LOCATION", "ACTIVE", "LAST SEEN", "ID"],
          devices.map((d) => [d.name, DeviceDirection[d.direction], d.location || "-", d.isActive ? "yes" : "no", time(d.lastSeenAt), d.id])));
    }));

  device.command("rotate-secret <device>")
    .description("replace a camera's secret (the old one stops working now); prints the new one once")
    .option("--save <file>", "also write the new credentials to this file, mode 0600")
    .action(withMesh<{ save?: string }>(async ({ conn, out }, opts, ref: string) => {
      const found = await findDevice(conn, ref);
      const answer = await conn.client(DeviceService).rotateDeviceSecret({ deviceId: found.id });
      await showSecret(out, answer.device!, answer.secret, conn.addr, opts.save, "rotated the secret of");
    }));

  device.command("disable <device>")
    .description("disable a camera: its tokens stop working")
    .option("--reason <text>", "recorded in the audit log", "")
    .action(withMesh<{ reason: string }>(async ({ conn, out }, opts, ref: string) => {
      const found = await findDevice(conn, ref);
      const { device: disabled } = await conn.client(DeviceService).disableDevice({ deviceId: found.id, reason: opts.reason });
      out.result(protoJson(DeviceSchema, disabled!), () => out.line(`disabled device ${disabled!.name} (${disabled!.id})`));
    }));

  return device;
}
