import { randomBytes, randomUUID } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import type { JWK } from "jose";
import { AuthService } from "../../gen/rollcall/identity/v1/auth_pb.js";
import { UserService } from "../../gen/rollcall/identity/v1/user_pb.js";
import { VisionService } from "../../gen/rollcall/vision/v1/vision_pb.js";
import { loadConfig } from "../../services/runtime/config.js";
import { startHost, type RunningHost } from "../../services/runtime/host.js";
import { createLogger } from "../../services/runtime/logger.js";
import { createClient } from "../../services/runtime/grpc/client.js";
import { SERVICE_MODULES } from "../../services/modules.js";
import { openTestDatabase, type TestDatabase } from "../support/database.js";
import { newSigner, signToken } from "../support/tokens.js";
import { MODELS_DIR } from "./support.js";
import { freePort } from "../support/ports.js";

export interface TestMesh {
  host: RunningHost;
  vision: ReturnType<typeof createClient<typeof VisionService>>;
  org: string;
  users: { admin: string; member: string; device: string };
  tokens: { admin: string; member: string; device: string; service: string };
  /** The member's face label in identity (what recognitions carry). */
  memberFaceLabel: bigint;
  /** Identity's user service, as the administrator. */
  identityUsers: ReturnType<typeof createClient<typeof UserService>>;
  stop(): Promise<void>;
}

const ADMIN_PASSWORD = "bootstrap-Vision-passw0rd!";

/**
 * The whole mesh as `npm start` runs it (own data dir, database, bus namespace), trusting a test
 * signing key beside identity's own. The organisation and its people are real identity records:
 * the bootstrap "default" organisation, its administrator (ADMIN), and a member (USER); the
 * device and service tokens are signed by the test key.
 */
export async function startTestMesh(): Promise<TestMesh> {
  process.env.ROLLCALL_MODELS_DIR ??= MODELS_DIR;
  const signer = await newSigner();
  const adminPort = await freePort();
  const jwks = await serveKeys(async () => [signer.publicJwk, ...(await identityKeys(adminPort))]);
  const dataDir = await mkdtemp(path.join(tmpdir(), "vision-mesh-"));
  const database: TestDatabase | undefined = process.env.DATABASE_URL ? await openTestDatabase() : undefined;
  const env: Record<string, string> = {
    ROLLCALL_GRPC_PORT: "0", ROLLCALL_ADMIN_PORT: String(adminPort), ROLLCALL_GATEWAY_PORT: "0", ROLLCALL_DATA_DIR: dataDir,
    ROLLCALL_BUS_NAMESPACE: `t${process.pid}x${randomBytes(3).toString("hex")}`, ROLLCALL_JWKS_URL: jwks.url, LOG_LEVEL: "silent",
    ROLLCALL_CACHE_PREFIX: `test:${process.pid}:${randomBytes(3).toString("hex")}:`, ROLLCALL_BOOTSTRAP_ADMIN_PASSWORD: ADMIN_PASSWORD,
  };
  if (database) env.DATABASE_URL = database.url;
  for (const name of ["REDIS_URL", "NATS_URL"]) if (process.env[name]) env[name] = process.env[name]!;
  const host = await startHost(loadConfig(env), SERVICE_MODULES, { gateway: false, logger: createLogger("silent") });
  const target = `127.0.0.1:${host.grpcPort}`;

  const login = await createClient(AuthService, target).login({ organizationCode: "default", login: "admin@default.rollcall.local", password: ADMIN_PASSWORD });
  const admin = login.user!;
  const org = admin.organizationId;
  const identityUsers = createClient(UserService, target, { bearer: () => login.tokens!.accessToken });
  const { user: member } = await identityUsers.createUser({
    organizationId: org, username: "member", email: "member@example.com", password: "Correct-horse-battery-9", firstName: "Mem", lastName: "Ber", roles: ["USER"],
  });
  const users = { admin: admin.id, member: member!.id, device: randomUUID() };
  const tokens = {
    admin: login.tokens!.accessToken,
    member: await signToken(signer, { sub: users.member, org, roles: ["USER"] }),
    device: await signToken(signer, { typ: "device", sub: users.device, org, roles: [] }),
    service: await signToken(signer, { typ: "service", sub: "vision-test", org, roles: [] }),
  };
  const vision = createClient(VisionService, target);
  return {
    host, vision, org, users, tokens, memberFaceLabel: member!.profile!.faceLabel, identityUsers,
    async stop() {
      vision.close();
      identityUsers.close();
      await host.stop();
      await jwks.close();
      await database?.drop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

async function identityKeys(adminPort: number): Promise<JWK[]> {
  try {
    const res = await fetch(`http://127.0.0.1:${adminPort}/.well-known/jwks.json`);
    return res.ok ? ((await res.json()) as { keys: JWK[] }).keys : [];
  } catch {
    return [];
  }
}

/** A JWKS endpoint whose keys are looked up on every request. */
async function serveKeys(keys: () => Promise<JWK[]>): Promise<{ url: string; close(): Promise<void> }> {
  const server = createServer((_req, res) => {
    void keys().then((list) => res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ keys: list })));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/.well-known/jwks.json`,
    close: () => new Promise((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}
