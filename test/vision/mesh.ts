import { randomBytes, randomUUID } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { status } from "@grpc/grpc-js";
import type { JWK } from "jose";
import { AuthzAdminService } from "../../gen/rollcall/authz/v1/admin_pb.js";
import { VisionService } from "../../gen/rollcall/vision/v1/vision_pb.js";
import { loadConfig } from "../../services/runtime/config.js";
import { startHost, type RunningHost } from "../../services/runtime/host.js";
import { createLogger } from "../../services/runtime/logger.js";
import { createClient } from "../../services/runtime/grpc/client.js";
import type { AppError } from "../../services/runtime/errors.js";
import { SERVICE_MODULES } from "../../services/modules.js";
import { openTestDatabase, type TestDatabase } from "../support/database.js";
import { newSigner, signToken } from "../support/tokens.js";
import { MODELS_DIR } from "./support.js";

export interface TestMesh {
  host: RunningHost;
  vision: ReturnType<typeof createClient<typeof VisionService>>;
  org: string;
  users: { admin: string; member: string; device: string };
  tokens: { admin: string; member: string; device: string; service: string };
  /** False while the authz service answers UNIMPLEMENTED (calls needing a decision cannot pass). */
  authzReady: boolean;
  stop(): Promise<void>;
}

/**
 * The whole mesh as `npm start` runs it (own data dir, database, bus namespace), trusting a test
 * signing key beside identity's own, with one organisation seeded in authz: `admin` holds ADMIN.
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
  };
  if (database) env.DATABASE_URL = database.url;
  for (const name of ["REDIS_URL", "NATS_URL"]) if (process.env[name]) env[name] = process.env[name]!;
  const host = await startHost(loadConfig(env), SERVICE_MODULES, { gateway: false, logger: createLogger("silent") });
  const org = randomUUID();
  const users = { admin: randomUUID(), member: randomUUID(), device: randomUUID() };
  const tokens = {
    admin: await signToken(signer, { sub: users.admin, org, roles: ["ADMIN"] }),
    member: await signToken(signer, { sub: users.member, org, roles: ["USER"] }),
    device: await signToken(signer, { typ: "device", sub: users.device, org, roles: [] }),
    service: await signToken(signer, { typ: "service", sub: "vision-test", org, roles: [] }),
  };
  let authzReady = false;
  const authz = createClient(AuthzAdminService, `127.0.0.1:${host.grpcPort}`);
  try {
    await authz.seedOrganization({ organizationId: org, adminUserId: users.admin }, { bearer: tokens.service });
    authzReady = true;
  } catch (err) {
    if ((err as AppError).code !== status.UNIMPLEMENTED) throw err;
  } finally {
    authz.close();
  }
  const vision = createClient(VisionService, `127.0.0.1:${host.grpcPort}`);
  return {
    host, vision, org, users, tokens, authzReady,
    async stop() {
      vision.close();
      await host.stop();
      await jwks.close();
      await database?.drop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
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
