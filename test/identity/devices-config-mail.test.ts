import assert from "node:assert/strict";
import type { AddressInfo } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { SMTPServer } from "smtp-server";
import { status } from "@grpc/grpc-js";
import { fromBinary } from "@bufbuild/protobuf";
import { DeviceDirection, DeviceService } from "../../gen/rollcall/identity/v1/device_pb.js";
import { ConfigService } from "../../gen/rollcall/identity/v1/config_pb.js";
import { AuthService } from "../../gen/rollcall/identity/v1/auth_pb.js";
import { UserService } from "../../gen/rollcall/identity/v1/user_pb.js";
import { OrganizationService } from "../../gen/rollcall/identity/v1/organization_pb.js";
import { AuditEventSchema, PlatformEventSchema } from "../../gen/rollcall/audit/v1/bus_pb.js";
import { AppError } from "../../services/runtime/errors.js";
import { Sql } from "../../services/runtime/db/index.js";
import type { BusMessage } from "../../services/runtime/bus/bus.js";
import { STREAMS } from "../../services/runtime/bus/streams.js";
import { eventually } from "../support/eventually.js";
import { startIdentityMesh, type IdentityMesh } from "./mesh-fixture.js";

const code = (c: status, pattern?: RegExp) => (err: unknown) => {
  assert.ok(err instanceof AppError, String(err));
  assert.equal(status[err.code], status[c], err.message);
  if (pattern) assert.match(err.message, pattern);
  return true;
};

/** A real SMTP server on loopback that keeps what it receives. */
async function startSmtpSink() {
  const mails: string[] = [];
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ["STARTTLS"],
    logger: false,
    onData(stream, _session, callback) {
      let raw = "";
      stream.on("data", (chunk: Buffer) => (raw += chunk.toString("utf8")));
      stream.on("end", () => {
        mails.push(raw);
        callback();
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.server.address() as AddressInfo).port;
  return { url: `smtp://127.0.0.1:${port}`, mails, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

/** Quoted-printable soft line breaks split long links; join them before searching. */
const tokenIn = (mail: string) => /token=([A-Za-z0-9_-]{43})/.exec(mail.replace(/=\r?\n/g, "").replace(/=3D/g, "="))?.[1];

async function waitFor<T>(get: () => T | undefined, what: string, ms = 5000): Promise<T> {
  for (const end = Date.now() + ms; Date.now() < end; await sleep(50)) {
    const value = get();
    if (value !== undefined) return value;
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe("identity: devices, config, mail flows, audit and deletion", function () {
  this.timeout(60_000);
  let mesh: IdentityMesh;
  let smtp: Awaited<ReturnType<typeof startSmtpSink>>;
  let admin: string;
  const audit: BusMessage[] = [];
  const events: BusMessage[] = [];

  before(async () => {
    smtp = await startSmtpSink();
    mesh = await startIdentityMesh({ ROLLCALL_SMTP_URL: smtp.url, ROLLCALL_DELETION_GRACE_DAYS: "0", ROLLCALL_DELETION_CHECK_INTERVAL_SEC: "1" });
    admin = await mesh.adminToken();
    await mesh.host.bus.ensureStream(STREAMS.audit);
    await mesh.host.bus.ensureStream(STREAMS.events);
    mesh.host.bus.consume({ stream: STREAMS.audit.name, durable: "test-audit" }, async (msgs) => void audit.push(...msgs));
    mesh.host.bus.consume({ stream: STREAMS.events.name, durable: "test-events" }, async (msgs) => void events.push(...msgs));
  });
  after(async () => {
    await mesh?.stop();
    await smtp?.close();
  });

  describe("devices", () => {
    it("registers a camera, shows its secret once, and trades id + secret for a device token", async () => {
      const devices = mesh.client(DeviceService, admin);
      const { device, secret } = await devices.registerDevice({ name: "Front door", location: "Lobby", direction: DeviceDirection.IN });
      assert.equal(secret.length, 43);
      assert.equal((await devices.getDevice({ deviceId: device!.id })).device!.direction, DeviceDirection.IN);
      const issued = await mesh.client(DeviceService).issueDeviceToken({ deviceId: device!.id, secret });
      const claims = JSON.parse(Buffer.from(issued.accessToken.split(".")[1]!, "base64url").toString());
      assert.deepEqual([claims.typ, claims.sub, claims.org], ["device", device!.id, issued.organizationId]);
      // The device reads its own record with its token, and nothing else.
      await mesh.client(DeviceService, issued.accessToken).getDevice({ deviceId: device!.id });
      await assert.rejects(mesh.client(UserService, issued.accessToken).listUsers({}), code(status.PERMISSION_DENIED));
      assert.ok((await devices.getDevice({ deviceId: device!.id })).device!.lastSeenAt, "last seen is recorded");
    });

    it("refuses a wrong secret, a rotated secret and a disabled device", async () => {
      const devices = mesh.client(DeviceService, admin);
      const { device, secret } = await devices.registerDevice({ name: "Back door", direction: DeviceDirection.OUT });
      await assert.rejects(mesh.client(DeviceService).issueDeviceToken({ deviceId: device!.id, secret: "x".repeat(43) }), code(status.UNAUTHENTICATED));
      const rotated = await devices.rotateDeviceSecret({ deviceId: device!.id });
      await assert.rejects(mesh.client(DeviceService).issueDeviceToken({ deviceId: device!.id, secret }), code(status.UNAUTHENTICATED));
      await mesh.client(DeviceService).issueDeviceToken({ deviceId: device!.id, secret: rotated.secret });
      await devices.disableDevice({ deviceId: device!.id, reason: "replaced" });
      await assert.rejects(mesh.client(DeviceService).issueDeviceToken({ deviceId: device!.id, secret: rotated.secret }), code(status.PERMISSION_DENIED, /disabled/));
    });

    it("validates direction and name, and lists with filters", async () => {
      const devices = mesh.client(DeviceService, admin);
      await assert.rejects(devices.registerDevice({ name: "No direction" }), code(status.INVALID_ARGUMENT, /^direction:/));
      await assert.rejects(devices.registerDevice({ name: "", direction: DeviceDirection.BOTH }), code(status.INVALID_ARGUMENT, /^name:/));
      await assert.rejects(devices.registerDevice({ name: "front DOOR", direction: DeviceDirection.BOTH }), code(status.ALREADY_EXISTS));
      const active = await devices.listDevices({ isActive: true });
      assert.deepEqual(active.devices.map((d) => d.name), ["Front door"]);
    });
  });

  describe("config", () => {
    it("sets, reads, lists and deletes per-organisation config; the cache never serves a stale value", async () => {
      const config = mesh.client(ConfigService, admin);
      await config.setConfig({ key: "attendance.debounce_seconds", value: { kind: { case: "numberValue", value: 60 } } });
      assert.equal((await config.getConfig({ key: "attendance.debounce_seconds" })).entry!.value!.kind.value, 60);
      await config.setConfig({ key: "attendance.debounce_seconds", value: { kind: { case: "numberValue", value: 90 } } });
      assert.equal((await config.getConfig({ key: "attendance.debounce_seconds" })).entry!.value!.kind.value, 90);
      assert.deepEqual((await config.listConfig({})).entries.map((e) => e.key), ["attendance.debounce_seconds"]);
      await config.deleteConfig({ key: "attendance.debounce_seconds" });
      await assert.rejects(config.getConfig({ key: "attendance.debounce_seconds" }), code(status.NOT_FOUND));
      await assert.rejects(config.setConfig({ key: "Bad Key", value: { kind: { case: "boolValue", value: true } } }), code(status.INVALID_ARGUMENT, /^key:/));
    });

    it("keeps application settings for platform operators", async () => {
      const config = mesh.client(ConfigService, admin);
      await config.setAppSetting({ key: "maintenance", value: { kind: { case: "boolValue", value: false } } });
      assert.equal((await config.getAppSetting({ key: "maintenance" })).setting!.value!.kind.value, false);
    });
  });

  describe("mail flows (SMTP)", () => {
    it("resets a password through a single-use link sent by mail, ending every session", async () => {
      const user = (await mesh.client(UserService, admin).createUser({ username: "forgetful", email: "forgetful@example.com", password: "First-secret-pass-1" })).user!;
      const before = (await mesh.login("forgetful", "First-secret-pass-1")).tokens!;
      const sent = smtp.mails.length;
      await mesh.client(AuthService).requestPasswordReset({ organizationCode: "default", email: "FORGETFUL@example.com" });
      const mail = await waitFor(() => smtp.mails[sent], "the reset mail");
      assert.match(mail, /To: forgetful@example\.com/);
      const token = tokenIn(mail)!;
      await assert.rejects(mesh.client(AuthService).resetPassword({ token, newPassword: "short" }), code(status.INVALID_ARGUMENT, /^new_password/));
      await mesh.client(AuthService).resetPassword({ token, newPassword: "Second-secret-pass-2" });
      await assert.rejects(mesh.client(AuthService).resetPassword({ token, newPassword: "Third-secret-pass-3" }), code(status.FAILED_PRECONDITION, /already used/));
      await assert.rejects(mesh.client(UserService, before.accessToken).getUser({}), code(status.UNAUTHENTICATED));
      assert.equal((await mesh.login("forgetful", "Second-secret-pass-2")).user!.id, user.id);
    });

    it("answers a reset request for an unknown address the same way, and sends nothing", async () => {
      const sent = smtp.mails.length;
      await mesh.client(AuthService).requestPasswordReset({ organizationCode: "default", email: "nobody@example.com" });
      await mesh.client(AuthService).requestPasswordReset({ organizationCode: "nowhere", email: "nobody@example.com" });
      await sleep(300);
      assert.equal(smtp.mails.length, sent);
    });

    it("verifies an email address through the mailed link", async () => {
      await mesh.client(UserService, admin).createUser({ username: "fresh", email: "fresh@example.com", password: "Newcomer-pass-4567" });
      const token = (await mesh.login("fresh", "Newcomer-pass-4567")).tokens!.accessToken;
      const sent = smtp.mails.length;
      await mesh.client(AuthService, token).requestEmailVerification({});
      const link = tokenIn(await waitFor(() => smtp.mails[sent], "the verification mail"))!;
      await mesh.client(AuthService).confirmEmail({ token: link });
      assert.equal((await mesh.client(UserService, token).getUser({})).user!.emailVerified, true);
      await assert.rejects(mesh.client(AuthService).confirmEmail({ token: link }), code(status.FAILED_PRECONDITION));
      await assert.rejects(mesh.client(AuthService, token).requestEmailVerification({}), code(status.FAILED_PRECONDITION, /already verified/));
    });
  });

  describe("audit events and the deletion job", () => {
    it("publishes audit events for logins and changes, with no secret in them", async () => {
      await mesh.login("forgetful", "wrong-password-xyz").catch(() => undefined);
      const login = await waitFor(() => audit.map((m) => fromBinary(AuditEventSchema, m.data)).find((e) => e.action === "auth.login" && e.outcome === 2), "a failed login event");
      assert.equal(login.service, "identity");
      const everything = audit.map((m) => Buffer.from(m.data).toString("latin1")).join("\n");
      for (const secret of ["wrong-password-xyz", "Second-secret-pass-2", "First-secret-pass-1", "$argon2id"]) {
        assert.ok(!everything.includes(secret), `an audit event contains ${secret}`);
      }
      assert.ok(audit.some((m) => fromBinary(AuditEventSchema, m.data).action === "device.register"));
    });

    it("deletes an organisation after its grace period, announcing it on the EVENTS stream; authz drops its policy", async () => {
      const orgs = mesh.client(OrganizationService, admin);
      const { organization } = await orgs.createOrganization({ code: "doomed", name: "Doomed Inc" });
      const orgId = organization!.id;
      const policyRows = () =>
        mesh.host.db.withSystem(async (tx) => Number((await new Sql(mesh.host.db.sequelize).row<{ n: string }>(tx,
          "SELECT (SELECT count(*) FROM authz.roles WHERE organization_id = $1) + (SELECT count(*) FROM authz.user_roles WHERE organization_id = $1) AS n", [orgId]))!.n));
      assert.ok((await policyRows()) >= 4, "seeded roles and the creator's assignment");
      await orgs.verifyOrganization({ organizationId: orgId });
      await orgs.requestOrganizationDeletion({ organizationId: orgId });
      const event = await waitFor(() => events.map((m) => fromBinary(PlatformEventSchema, m.data)).find((e) => e.type === "ORGANIZATION_DELETED" && e.referenceId === orgId), "ORGANIZATION_DELETED", 10_000);
      assert.equal(event.organizationId, orgId);
      let gone = false;
      for (let i = 0; i < 50 && !gone; i++) {
        gone = await orgs.getOrganization({ organizationId: orgId }).then(() => false, (err: AppError) => err.code === status.NOT_FOUND);
        if (!gone) await sleep(100);
      }
      assert.ok(gone, "the organisation still exists");
      for (let i = 0; i < 100 && (await policyRows()) > 0; i++) await sleep(100);
      assert.equal(await policyRows(), 0, "authz removed the deleted organisation's roles and assignments");
    });

    it("signs in to the organisation that has a code now, not to a deleted one that had it before", async () => {
      const orgs = mesh.client(OrganizationService, admin);
      const member = { username: "fawkes", email: "fawkes@phoenix.test", password: "Rises-from-cinders-7" };
      const open = async () => {
        const { organization } = await orgs.createOrganization({ code: "phoenix", name: "Phoenix" });
        await orgs.verifyOrganization({ organizationId: organization!.id });
        await mesh.client(UserService, admin).createUser({ organizationId: organization!.id, ...member });
        return organization!.id;
      };
      const organizationOf = async () => {
        const { tokens } = await mesh.login(member.email, member.password, "phoenix");
        return JSON.parse(Buffer.from(tokens!.accessToken.split(".")[1]!, "base64url").toString()).org as string;
      };
      const first = await open();
      assert.equal(await organizationOf(), first);
      await orgs.requestOrganizationDeletion({ organizationId: first });
      await eventually(() => orgs.getOrganization({ organizationId: first }).then(() => false, (err: AppError) => err.code === status.NOT_FOUND), "the deletion of the first organisation");
      const second = await open();
      assert.equal(await organizationOf(), second);
    });
  });
});
