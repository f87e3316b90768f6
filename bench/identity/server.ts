/**
 * Server side of the identity benchmark: identity + authz in their own process, on the real
 * Postgres/Redis/NATS when DATABASE_URL/REDIS_URL/NATS_URL are set, else embedded. Creates the
 * benchmark's users, then reports its address and CPU time per phase (its own, and its Postgres
 * backends' when the database is a Postgres server on this machine).
 */
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { loadConfig } from "../../services/runtime/config.js";
import { startHost } from "../../services/runtime/host.js";
import { createLogger } from "../../services/runtime/logger.js";
import { createClient } from "../../services/runtime/grpc/client.js";
import { identityModule } from "../../services/identity/module.js";
import { authzModule } from "../../services/authz/module.js";
import { AuthService } from "../../gen/rollcall/identity/v1/auth_pb.js";
import { UserService } from "../../gen/rollcall/identity/v1/user_pb.js";
import { report, serveCpuPhases } from "../lib/child.js";
import { profilePhases } from "../lib/profile.js";
import { openTestDatabase } from "../../test/support/database.js";
import { servePostgresCpuPhases } from "./postgres-cpu.js";

export const BENCH_PASSWORD = "Benchmark-password-2026";
const USERS = Number(process.argv[2] ?? 32);

const run = randomBytes(3).toString("hex");
// Its own database on the server, like a test run: never the one in DATABASE_URL itself.
const database = process.env.DATABASE_URL ? await openTestDatabase() : undefined;
const config = loadConfig({
  ...process.env,
  ...(database ? { DATABASE_URL: database.url } : {}),
  ROLLCALL_GRPC_PORT: "0",
  ROLLCALL_ADMIN_PORT: "0",
  ROLLCALL_DATA_DIR: await mkdtemp(join(tmpdir(), "rollcall-bench-")),
  ROLLCALL_BUS_NAMESPACE: `bench${run}`,
  ROLLCALL_CACHE_PREFIX: `bench:${run}:`,
  ROLLCALL_BOOTSTRAP_ADMIN_PASSWORD: "Bench-root-passw0rd!",
  ROLLCALL_LOCKOUT_IP_THRESHOLD: "100000",
  LOG_LEVEL: "silent",
});
const host = await startHost(config, [identityModule, authzModule], { gateway: false, logger: createLogger("silent") });
const target = `127.0.0.1:${host.grpcPort}`;
const admin = (await createClient(AuthService, target).login({ organizationCode: "default", login: "admin@default.rollcall.local", password: "Bench-root-passw0rd!" })).tokens!.accessToken;
const users = createClient(UserService, target, { bearer: () => admin });
const logins: string[] = [];
for (let i = 0; i < USERS; i++) {
  const email = `bench${i}@example.com`;
  await users.createUser({ username: `bench${i}`, email, password: BENCH_PASSWORD });
  logins.push(email);
}

serveCpuPhases();
if (database) servePostgresCpuPhases(new URL(database.url).pathname.slice(1));
profilePhases("identity");
process.on("SIGTERM", () => void host.stop().then(() => database?.drop()).finally(() => process.exit(0)));
report.ready({ target, logins, database: config.databaseUrl ? "PostgreSQL" : "PGlite (embedded)", cache: config.redisUrl ? "Redis" : "in-process" });
