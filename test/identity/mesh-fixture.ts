import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import type { DescService } from "@bufbuild/protobuf";
import { loadConfig } from "../../services/runtime/config.js";
import { startHost, type RunningHost } from "../../services/runtime/host.js";
import { createLogger } from "../../services/runtime/logger.js";
import { createClient, type RpcClient } from "../../services/runtime/grpc/client.js";
import type { ServiceModule } from "../../services/runtime/service-module.js";
import { identityModule } from "../../services/identity/module.js";
import { authzModule } from "../../services/authz/module.js";
import { AuthService } from "../../gen/rollcall/identity/v1/auth_pb.js";
import { openTestDatabase, type TestDatabase } from "../support/database.js";

export const ADMIN_EMAIL = "admin@default.rollcall.local";
export const ADMIN_PASSWORD = "bootstrap-Root-passw0rd!";

export interface IdentityMesh {
  host: RunningHost;
  target: string;
  env: Record<string, string>;
  client<S extends DescService>(service: S, bearer?: string): RpcClient<S>;
  /** Logs in and returns the access token (and the whole answer). */
  login(login: string, password: string, organizationCode?: string): Promise<Awaited<ReturnType<RpcClient<typeof AuthService>["login"]>>>;
  adminToken(): Promise<string>;
  stop(): Promise<void>;
}

/**
 * identity + authz (or the modules given) in one process, on real Postgres/Redis/NATS when their URLs are set and on the
 * embedded defaults otherwise, with its own database, key prefix and bus namespace.
 */
export async function startIdentityMesh(extraEnv: Record<string, string> = {}, modules: readonly ServiceModule[] = [identityModule, authzModule]): Promise<IdentityMesh> {
  const dataDir = await mkdtemp(join(tmpdir(), "rollcall-identity-"));
  const database: TestDatabase | undefined = process.env.DATABASE_URL ? await openTestDatabase() : undefined;
  const env: Record<string, string> = {
    ROLLCALL_GRPC_PORT: "0",
    ROLLCALL_ADMIN_PORT: "0",
    ROLLCALL_DATA_DIR: dataDir,
    ROLLCALL_BUS_NAMESPACE: `t${process.pid}x${randomBytes(3).toString("hex")}`,
    ROLLCALL_CACHE_PREFIX: `test:${process.pid}:${randomBytes(3).toString("hex")}:`,
    ROLLCALL_BOOTSTRAP_ADMIN_PASSWORD: ADMIN_PASSWORD,
    ROLLCALL_SHUTDOWN_GRACE_MS: "1000",
    LOG_LEVEL: process.env.LOG_LEVEL ?? "silent",
    ...(database ? { DATABASE_URL: database.url } : {}),
    ...(process.env.REDIS_URL ? { REDIS_URL: process.env.REDIS_URL } : {}),
    ...(process.env.NATS_URL ? { NATS_URL: process.env.NATS_URL } : {}),
    ...extraEnv,
  };
  const host = await startHost(loadConfig(env), modules, { gateway: false, logger: createLogger(env.LOG_LEVEL) });
  const target = `127.0.0.1:${host.grpcPort}`;
  const client = <S extends DescService>(service: S, bearer?: string) => createClient(service, target, { bearer: () => bearer });
  const login: IdentityMesh["login"] = (name, password, organizationCode = "default") =>
    client(AuthService).login({ organizationCode, login: name, password });
  let admin: string | undefined;
  const mesh: IdentityMesh = {
    host,
    target,
    env,
    client,
    login,
    async adminToken() {
      // startHost returns once the first-run bootstrap has made the administrator.
      admin ??= (await login(ADMIN_EMAIL, ADMIN_PASSWORD)).tokens!.accessToken;
      return admin;
    },
    async stop() {
      await host.stop();
      await database?.drop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
  return mesh;
}
