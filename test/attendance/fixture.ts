import { randomBytes, randomUUID } from "node:crypto";
import type { DescService } from "@bufbuild/protobuf";
import { create, toBinary } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { AttendanceService } from "../../gen/rollcall/attendance/v1/attendance_pb.js";
import { ConfigService } from "../../gen/rollcall/identity/v1/config_pb.js";
import { DeviceService, type DeviceDirection } from "../../gen/rollcall/identity/v1/device_pb.js";
import { OrganizationService } from "../../gen/rollcall/identity/v1/organization_pb.js";
import { UserService } from "../../gen/rollcall/identity/v1/user_pb.js";
import { RecognitionEventSchema } from "../../gen/rollcall/vision/v1/bus_pb.js";
import { attendanceModule } from "../../services/attendance/module.js";
import { AdminHttpServer } from "../../services/runtime/admin-http.js";
import { Authenticator } from "../../services/runtime/auth/authenticator.js";
import { CacheRevocationList } from "../../services/runtime/auth/revocation.js";
import { TokenVerifier, remoteKeySet } from "../../services/runtime/auth/token-verifier.js";
import { RemoteAuthorizer } from "../../services/runtime/authz/remote-authorizer.js";
import { subjects } from "../../services/runtime/bus/bus.js";
import { loadConfig, type Config } from "../../services/runtime/config.js";
import { createClient, type RpcClient } from "../../services/runtime/grpc/client.js";
import { RpcServer } from "../../services/runtime/grpc/server.js";
import { createLogger } from "../../services/runtime/logger.js";
import { MeshClients } from "../../services/runtime/mesh-clients.js";
import { Metrics } from "../../services/runtime/metrics.js";
import type { StartedService } from "../../services/runtime/service-module.js";
import { startIdentityMesh, type IdentityMesh } from "../identity/mesh-fixture.js";
import { openTestBus, type TestBus } from "../support/bus.js";
import { openTestCache, type TestCache } from "../support/cache.js";
import { openTestDatabase, type TestDatabase } from "../support/database.js";
import { eventually } from "../support/eventually.js";

export const PASSWORD = "Attendance-test-pass-1";

/** One running attendance service: its own gRPC server over the shared database, cache and bus. */
export interface AttendanceInstance {
  target: string;
  metrics: Metrics;
  client(bearer?: string): RpcClient<typeof AttendanceService>;
  stop(): Promise<void>;
}

export interface AttendanceWorld {
  mesh: IdentityMesh;
  database: TestDatabase;
  cache: TestCache;
  bus: TestBus;
  config: Config;
  admin: string;
  /** Starts an attendance service (several may run: replicas, or a restart). */
  start(): Promise<AttendanceInstance>;
  stop(): Promise<void>;
}

/**
 * identity + authz in one host (the mesh attendance calls), and attendance started by hand on
 * a database, cache and bus that outlive it, so a test can stop it and start it again as a
 * restarted process would, on the real servers when their URLs are set.
 */
export async function startWorld(): Promise<AttendanceWorld> {
  const secret = randomBytes(32).toString("base64url");
  process.env.ROLLCALL_ATTENDANCE_DIRECTORY_CACHE_MS ??= "0";
  process.env.ROLLCALL_ATTENDANCE_CLOSE_INTERVAL_SEC ??= "3600";
  const mesh = await startIdentityMesh({ ROLLCALL_SERVICE_SECRET: secret });
  const [database, cache, bus] = await Promise.all([openTestDatabase(), openTestCache(), openTestBus()]);
  const logger = createLogger(process.env.LOG_LEVEL ?? "silent");
  const config = loadConfig({
    ROLLCALL_GRPC_PORT: "0",
    ROLLCALL_IDENTITY_ADDR: mesh.target,
    ROLLCALL_AUTHZ_ADDR: mesh.target,
    ROLLCALL_JWKS_URL: `http://127.0.0.1:${mesh.host.adminPort}/.well-known/jwks.json`,
    ROLLCALL_SERVICE_SECRET: secret,
    LOG_LEVEL: process.env.LOG_LEVEL ?? "silent",
  });
  await database.db.migrate("attendance", attendanceModule.migrations);
  const running = new Set<AttendanceInstance>();
  const world: AttendanceWorld = {
    mesh, database, cache, bus, config,
    admin: await mesh.adminToken(),
    async start() {
      const metrics = new Metrics();
      const verifier = new TokenVerifier({ issuer: config.jwt.issuer, audience: config.jwt.audience, keys: remoteKeySet(config.jwt.jwksUrl!, config.jwt.jwksCacheMs), revocations: new CacheRevocationList(cache.cache) });
      const server = new RpcServer({ logger, metrics, authenticator: new Authenticator(verifier), maxMessageBytes: config.maxMessageBytes, trustedProxies: config.trustedProxies });
      const port = await server.listen("127.0.0.1", 0);
      const target = `127.0.0.1:${port}`;
      const clients = new MeshClients({ ...config.addresses, attendance: target });
      const authz = new RemoteAuthorizer(clients, { bus: bus.bus, logger });
      const started: StartedService = await attendanceModule.start({
        config, logger, metrics, db: database.db, cache: cache.cache, bus: bus.bus, server, admin: new AdminHttpServer(metrics, logger), clients, authz,
      });
      server.markReady();
      const opened: { close(): void }[] = [];
      const instance: AttendanceInstance = {
        target,
        metrics,
        client(bearer) {
          const client = createClient(AttendanceService, target, { bearer: () => bearer });
          opened.push(client);
          return client;
        },
        async stop() {
          running.delete(instance);
          await started.stop();
          await server.shutdown(500);
          authz.close();
          clients.close();
          for (const c of opened) c.close();
        },
      };
      running.add(instance);
      return instance;
    },
    async stop() {
      for (const instance of [...running]) await instance.stop();
      await bus.cleanup();
      await cache.cleanup();
      await database.drop();
      await mesh.stop();
    },
  };
  return world;
}

export interface Tenant {
  id: string;
  code: string;
  users: { operator: string; member: string; other: string };
  tokens: { operator: string; member: string };
  devices: Record<string, string>;
}

/** An ACTIVE organisation with an OPERATOR, two USERs (one in "Sales") and the cameras asked for. */
export async function createTenant(world: AttendanceWorld, timezone: string, cameras: Record<string, DeviceDirection>, settings: Record<string, number> = {}): Promise<Tenant> {
  const { mesh, admin } = world;
  const code = `t${randomBytes(4).toString("hex")}`;
  const { organization } = await mesh.client(OrganizationService, admin).createOrganization({ code, name: `Tenant ${code}`, timezone });
  const id = organization!.id;
  await mesh.client(OrganizationService, admin).verifyOrganization({ organizationId: id });
  const users = mesh.client(UserService, admin);
  const make = async (name: string, roles: string[], department = "") =>
    (await users.createUser({ organizationId: id, username: name, email: `${name}@${code}.test`, password: PASSWORD, firstName: name, lastName: "Tester", department, employeeCode: `${name.toUpperCase()}-1`, roles })).user!.id;
  const operator = await make("operator", ["OPERATOR"]);
  const member = await make("member", ["USER"], "Sales");
  const other = await make("other", ["USER"], "Support");
  const tokens = {
    operator: (await mesh.login("operator", PASSWORD, code)).tokens!.accessToken,
    member: (await mesh.login("member", PASSWORD, code)).tokens!.accessToken,
  };
  const devices: Record<string, string> = {};
  for (const [name, direction] of Object.entries(cameras)) {
    devices[name] = (await mesh.client(DeviceService, admin).registerDevice({ organizationId: id, name, direction })).device!.id;
  }
  for (const [key, value] of Object.entries(settings)) {
    await mesh.client(ConfigService, admin).setConfig({ organizationId: id, key, value: { kind: { case: "numberValue", value } } });
  }
  return { id, code, users: { operator, member, other }, tokens, devices };
}

export interface Seen {
  userId?: string;
  deviceId: string;
  at: Date;
  similarity?: number;
  eventId?: string;
}

/** Publishes a RecognitionEvent as vision does; returns its event id. */
export async function publishRecognition(world: AttendanceWorld, organizationId: string, seen: Seen, msgId?: string): Promise<string> {
  const eventId = seen.eventId ?? randomUUID();
  const event = create(RecognitionEventSchema, {
    eventId,
    organizationId,
    deviceId: seen.deviceId,
    userId: seen.userId,
    similarity: seen.similarity ?? 0.8,
    captureTime: timestampFromDate(seen.at),
    frameId: randomUUID(),
    unknown: !seen.userId,
    recognizedAt: timestampFromDate(new Date()),
  });
  await world.bus.bus.publish(subjects.recognitions(organizationId), toBinary(RecognitionEventSchema, event), { msgId: msgId ?? eventId });
  return eventId;
}

export { eventually };

export function client<S extends DescService>(world: AttendanceWorld, service: S, bearer: string): RpcClient<S> {
  return world.mesh.client(service, bearer);
}
