import { randomBytes, randomUUID } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { create, toBinary, type JsonObject } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { AuditService } from "../../gen/rollcall/audit/v1/audit_pb.js";
import { AuditEventSchema } from "../../gen/rollcall/audit/v1/bus_pb.js";
import { Outcome } from "../../gen/rollcall/audit/v1/types_pb.js";
import { AuthzAdminService } from "../../gen/rollcall/authz/v1/admin_pb.js";
import { ActorType } from "../../gen/rollcall/common/v1/common_pb.js";
import { authzModule } from "../../services/authz/module.js";
import type { AuditSettings } from "../../services/audit/config.js";
import { loadAuditSettings } from "../../services/audit/config.js";
import { makeAuditModule } from "../../services/audit/module.js";
import { subjects } from "../../services/runtime/bus/bus.js";
import { STREAMS } from "../../services/runtime/bus/streams.js";
import { Namespace } from "../../services/runtime/bus/subjects.js";
import { loadConfig } from "../../services/runtime/config.js";
import { createClient } from "../../services/runtime/grpc/client.js";
import { startHost, type RunningHost } from "../../services/runtime/host.js";
import { createLogger } from "../../services/runtime/logger.js";
import { openTestDatabase, type TestDatabase } from "../support/database.js";
import { newSigner, serveJwks, signToken } from "../support/tokens.js";
import { SMTPServer } from "smtp-server";
import type { AddressInfo } from "node:net";
import { eventually } from "../support/eventually.js";
import { deleteStreams } from "../support/bus.js";

export interface Org {
  id: string;
  admin: { id: string; token: string };
  member: { id: string; token: string };
}

export interface AuditMesh {
  host: RunningHost;
  audit: ReturnType<typeof createClient<typeof AuditService>>;
  orgs: [Org, Org];
  /** A platform operator (staff) token. */
  staff: string;
  /** Publishes an AuditEvent on the AUDIT stream; returns its event id. */
  publishAudit(org: string, overrides?: Partial<AuditEventInit>): Promise<string>;
  /** Runs SQL as the database login (a superuser: outside the runtime roles, like an intruder). */
  superSql<T = Record<string, unknown>>(sql: string, bind?: unknown[]): Promise<T[]>;
  /** Mails the audit service sent (a local SMTP sink). */
  mails: string[];
  /** Heartbeat interval of the host (fast, for the health tests). */
  heartbeatMs: number;
  /** Stops the host and starts it again on the same database and bus (a process restart). */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export interface AuditEventInit {
  eventId: string;
  actorType: ActorType;
  actorId: string;
  action: string;
  entityType: string;
  entityId: string;
  outcome: Outcome;
  ip: string;
  userAgent: string;
  detail: JsonObject;
}

/** authz + audit in one host (real servers when their URLs are set), with two seeded organisations. */
let shared: Promise<AuditMesh> | undefined;

/**
 * The mesh every audit test file uses (starting one costs seconds on a loaded machine): fast
 * heartbeats and notification retries, mail to a local SMTP sink. Stopped after all tests.
 */
export function auditMesh(): Promise<AuditMesh> {
  shared ??= startAuditMesh(
    { notifications: { retryBaseMs: 100, maxAttempts: 4, leaseMs: 1_000, pollMs: 50, timeoutMs: 2_000 }, livePollMs: 100 },
    { ROLLCALL_HEARTBEAT_INTERVAL_MS: "300" },
  );
  return shared;
}

after(async () => {
  if (shared) await (await shared).stop();
});

export async function startAuditMesh(overrides: Partial<AuditSettings> = {}, extraEnv: Record<string, string> = {}): Promise<AuditMesh> {
  const smtp = await startSmtpSink();
  const signer = await newSigner();
  const jwks = await serveJwks([signer.publicJwk]);
  const dataDir = await mkdtemp(path.join(tmpdir(), "audit-mesh-"));
  const database: TestDatabase | undefined = process.env.DATABASE_URL ? await openTestDatabase() : undefined;
  const env: Record<string, string> = {
    ROLLCALL_GRPC_PORT: "0", ROLLCALL_ADMIN_PORT: "0", ROLLCALL_DATA_DIR: dataDir, ROLLCALL_JWKS_URL: jwks.url, LOG_LEVEL: "silent",
    ROLLCALL_BUS_NAMESPACE: `t${process.pid}x${randomBytes(3).toString("hex")}`, ROLLCALL_CACHE_PREFIX: `test:${process.pid}:${randomBytes(3).toString("hex")}:`,
    ROLLCALL_SHUTDOWN_GRACE_MS: "500", ROLLCALL_SMTP_URL: smtp.url, ...extraEnv,
  };
  if (database) env.DATABASE_URL = database.url;
  for (const name of ["REDIS_URL", "NATS_URL"]) if (process.env[name]) env[name] = process.env[name]!;
  const settings = { ...loadAuditSettings({}), ...overrides };
  const boot = () => startHost(loadConfig(env), [authzModule, makeAuditModule(settings)], { gateway: false, logger: createLogger(process.env.LOG_LEVEL ?? "silent") });
  let host = await boot();
  env.ROLLCALL_GRPC_PORT = String(host.grpcPort);
  const target = `127.0.0.1:${host.grpcPort}`;
  const service = await signToken(signer, { typ: "service", sub: "audit-test", roles: [] });
  const staff = await signStaff(signer);
  const orgs = [] as unknown as [Org, Org];
  const authz = createClient(AuthzAdminService, target);
  for (let i = 0; i < 2; i++) {
    const id = randomUUID();
    const admin = randomUUID();
    const member = randomUUID();
    await authz.seedOrganization({ organizationId: id, adminUserId: admin }, { bearer: service });
    await authz.assignRole({ userId: member, roleName: "USER", organizationId: id }, { bearer: service });
    orgs.push({
      id,
      admin: { id: admin, token: await signToken(signer, { sub: admin, org: id, roles: ["ADMIN"] }) },
      member: { id: member, token: await signToken(signer, { sub: member, org: id, roles: ["USER"] }) },
    });
  }
  authz.close();
  await host.bus.ensureStream(STREAMS.audit);
  const audit = createClient(AuditService, target);
  const mesh: AuditMesh = {
    host, audit, orgs, staff, mails: smtp.mails, heartbeatMs: Number(env.ROLLCALL_HEARTBEAT_INTERVAL_MS ?? 10_000),
    async restart() {
      await host.stop();
      host = await boot();
      mesh.host = host;
    },
    async publishAudit(org, o = {}) {
      const eventId = o.eventId ?? randomUUID();
      const event = create(AuditEventSchema, {
        eventId, organizationId: org, actorType: o.actorType ?? ActorType.USER, actorId: o.actorId ?? randomUUID(), action: o.action ?? "user.update",
        entityType: o.entityType ?? "user", entityId: o.entityId ?? randomUUID(), outcome: o.outcome ?? Outcome.SUCCESS, ip: o.ip ?? "10.1.2.3",
        userAgent: o.userAgent ?? "test", detail: o.detail ?? { field: "email" }, occurredAt: timestampFromDate(new Date()), service: "test",
      });
      await host.bus.publish(subjects.audit(org || "platform", "test"), toBinary(AuditEventSchema, event), { msgId: (o as { msgId?: string }).msgId ?? eventId });
      return eventId;
    },
    superSql: (sql, bind = []) => host.db.sequelize.query(sql, { bind, type: "SELECT" as never }) as never,
    async stop() {
      audit.close();
      await host.stop();
      await jwks.close();
      await smtp.close();
      await database?.drop();
      if (env.NATS_URL) await deleteStreams(env.NATS_URL, new Namespace(env.ROLLCALL_BUS_NAMESPACE!).streamPrefix);
      await rm(dataDir, { recursive: true, force: true });
    },
  };
  return mesh;

  async function signStaff(s: typeof signer): Promise<string> {
    const { SignJWT } = await import("jose");
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({ typ: "user", org: randomUUID(), roles: [], staff: true })
      .setProtectedHeader({ alg: "EdDSA", kid: s.kid }).setSubject(randomUUID()).setIssuer("rollcall").setAudience("rollcall")
      .setJti(randomUUID()).setIssuedAt(now).setExpirationTime(now + 900).sign(s.privateKey);
  }
}

export { eventually };

/** A real SMTP server on loopback that keeps what it receives. */
async function startSmtpSink() {
  const mails: string[] = [];
  const server = new SMTPServer({
    authOptional: true, disabledCommands: ["STARTTLS"], logger: false,
    onData(stream, _session, callback) {
      let raw = "";
      stream.on("data", (chunk: Buffer) => (raw += chunk.toString("utf8")));
      stream.on("end", () => { mails.push(raw); callback(); });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { url: `smtp://127.0.0.1:${(server.server.address() as AddressInfo).port}`, mails, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}
