import { randomUUID } from "node:crypto";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { DeviceDirection, type DeviceSchema } from "../../../gen/rollcall/identity/v1/device_pb.js";
import { invalidArgument, notFound, permissionDenied, unauthenticated } from "../../runtime/errors.js";
import { violatedUnique } from "../../runtime/db/index.js";
import { alreadyExists } from "../../runtime/errors.js";
import * as v from "../../runtime/validate.js";
import type { AuditRecord } from "../../runtime/audit-publisher.js";
import type { Identity } from "../context.js";
import { hashToken, newOpaqueToken, sameHash } from "../crypto/opaque-tokens.js";
import type { DeviceRow, DeviceStore, DirectionName } from "./store.js";

const DIRECTIONS: Record<DirectionName, DeviceDirection> = { IN: DeviceDirection.IN, OUT: DeviceDirection.OUT, BOTH: DeviceDirection.BOTH };

export function direction(field: string, value: DeviceDirection): DirectionName {
  const name = (Object.keys(DIRECTIONS) as DirectionName[]).find((k) => DIRECTIONS[k] === value);
  if (!name) throw invalidArgument(field, "must be IN, OUT or BOTH");
  return name;
}

export function toDevice(row: DeviceRow): MessageInitShape<typeof DeviceSchema> {
  return {
    id: row.id,
    organizationId: row.organization_id,
    name: row.name,
    location: row.location,
    direction: DIRECTIONS[row.direction],
    isActive: row.is_active,
    lastSeenAt: row.last_seen_at ? timestampFromDate(new Date(row.last_seen_at)) : undefined,
    createdAt: timestampFromDate(new Date(row.created_at)),
    updatedAt: timestampFromDate(new Date(row.updated_at)),
  };
}

/**
 * Camera agents. A device's secret is shown once (at registration or rotation) and stored as its
 * SHA-256; the device trades id + secret for a short-lived token that lets it publish frames as
 * itself and nothing else.
 */
export class Devices {
  constructor(private readonly id: Identity, private readonly store: DeviceStore) {}

  async register(organizationId: string, input: { name: string; location: string; direction: DeviceDirection }, actor: AuditRecord["actor"]): Promise<{ device: DeviceRow; secret: string }> {
    const secret = newOpaqueToken();
    const row = {
      id: randomUUID(),
      organization_id: organizationId,
      name: v.text("name", input.name, { min: 1, max: 120 }),
      location: v.text("location", input.location, { max: 200 }),
      direction: direction("direction", input.direction),
      secret_hash: hashToken(secret),
    };
    const device = await this.id.db.withTenant(organizationId, (tx) => this.store.insert(tx, row)).catch((err: unknown) => {
      throw violatedUnique(err) === "devices_name" ? alreadyExists(`a device named "${row.name}" in this organisation`) : err;
    });
    await this.id.audit.publish({ organizationId, actor, action: "device.register", entityType: "device", entityId: device.id, outcome: "SUCCESS", detail: { name: device.name, direction: device.direction } });
    return { device, secret };
  }

  async get(organizationId: string, deviceId: string): Promise<DeviceRow> {
    const row = await this.id.db.withTenant(organizationId, (tx) => this.store.byId(tx, v.uuid("device_id", deviceId)));
    if (!row) throw notFound("device", deviceId);
    return row;
  }

  async change(organizationId: string, deviceId: string, changes: Parameters<DeviceStore["update"]>[2], action: string, actor: AuditRecord["actor"], detail = {}): Promise<DeviceRow> {
    const row = await this.id.db.withTenant(organizationId, (tx) => this.store.update(tx, v.uuid("device_id", deviceId), changes)).catch((err: unknown) => {
      throw violatedUnique(err) === "devices_name" ? alreadyExists(`a device named "${changes.name}" in this organisation`) : err;
    });
    if (!row) throw notFound("device", deviceId);
    await this.id.audit.publish({ organizationId, actor, action: `device.${action}`, entityType: "device", entityId: deviceId, outcome: "SUCCESS", detail });
    return row;
  }

  async rotateSecret(organizationId: string, deviceId: string, actor: AuditRecord["actor"]): Promise<{ device: DeviceRow; secret: string }> {
    const secret = newOpaqueToken();
    const device = await this.change(organizationId, deviceId, { secret_hash: hashToken(secret) }, "rotate_secret", actor);
    return { device, secret };
  }

  /**
   * A device proves itself with id + secret. The device id is not tied to an organisation in the
   * request, so the lookup runs across tenants; a wrong id or secret get the same answer.
   */
  async issueToken(deviceId: string, secret: string, ip: string) {
    const bad = "device id or secret is not correct";
    if (!/^[0-9a-f-]{36}$/i.test(deviceId) || !secret) throw unauthenticated(bad);
    const found = await this.id.db.withSystem(async (tx) => {
      const device = await this.store.byId(tx, deviceId);
      return device ? { device, org: await this.id.organizations.byId(tx, device.organization_id) } : undefined;
    });
    if (!found || !sameHash(found.device.secret_hash, hashToken(secret))) {
      await this.id.audit.publish({ organizationId: found?.device.organization_id, actor: { kind: "device", subject: deviceId }, action: "device.token", entityType: "device", entityId: deviceId, outcome: "FAILURE", ip });
      throw unauthenticated(bad);
    }
    const { device, org } = found;
    if (!device.is_active) throw permissionDenied(`device ${device.name} is disabled`);
    if (org?.status !== "ACTIVE") throw permissionDenied(`organisation ${org?.code ?? device.organization_id} is ${org?.status.toLowerCase() ?? "gone"}`);
    const token = await this.id.tokens.forDevice({ id: device.id, organizationId: device.organization_id });
    await this.id.db.withTenant(device.organization_id, (tx) => this.store.update(tx, device.id, { last_seen_at: new Date() }));
    return { accessToken: token.token, expiresAt: timestampFromDate(token.expiresAt), organizationId: device.organization_id };
  }
}
