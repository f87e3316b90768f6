import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { status } from "@grpc/grpc-js";
import { loadConfig } from "../services/runtime/config.js";
import { startHost, type RunningHost } from "../services/runtime/host.js";
import { createLogger } from "../services/runtime/logger.js";
import { createClient } from "../services/runtime/grpc/client.js";
import { AppError } from "../services/runtime/errors.js";
import { SERVICE_MODULES } from "../services/modules.js";
import { OrganizationService } from "../gen/rollcall/identity/v1/organization_pb.js";
import { openTestDatabase, type TestDatabase } from "./support/database.js";
import { bufCurl } from "./support/buf.js";
import { parseExposition } from "./support/metrics-text.js";
import { readFile } from "node:fs/promises";
import { statusTable, withStatusTable } from "../services/runtime/status-table.js";

/** Environment for a mesh of this test run: its own ports, data dir, database and bus namespace. */
function meshEnv(dataDir: string, databaseUrl: string | undefined): Record<string, string> {
  const env: Record<string, string> = {
    ROLLCALL_GRPC_PORT: "0",
    ROLLCALL_ADMIN_PORT: "0",
    ROLLCALL_GATEWAY_PORT: "0",
    ROLLCALL_DATA_DIR: dataDir,
    ROLLCALL_BUS_NAMESPACE: `t${process.pid}x${randomBytes(3).toString("hex")}`,
    ROLLCALL_CACHE_PREFIX: `test:${process.pid}:${randomBytes(3).toString("hex")}:`,
    ROLLCALL_SHUTDOWN_GRACE_MS: "2000",
    LOG_LEVEL: "silent",
  };
  if (databaseUrl) env.DATABASE_URL = databaseUrl;
  for (const name of ["REDIS_URL", "NATS_URL"]) if (process.env[name]) env[name] = process.env[name]!;
  return env;
}

describe("the all-in-one mesh", function () {
  this.timeout(60_000);
  let dataDir: string;
  let database: TestDatabase | undefined;
  let host: RunningHost;

  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), "rollcall-mesh-"));
    database = process.env.DATABASE_URL ? await openTestDatabase() : undefined;
    host = await startHost(loadConfig(meshEnv(dataDir, database?.url)), SERVICE_MODULES, { gateway: true, logger: createLogger("silent") });
  });
  after(async () => {
    await host?.stop();
    await database?.drop();
    await rm(dataDir, { recursive: true, force: true });
  });

  it("serves every service and reports each SERVING on grpc.health.v1", async () => {
    const listed = await bufCurl(["--list-services", `http://127.0.0.1:${host.grpcPort}`]);
    assert.equal(listed.code, 0, listed.stderr);
    const services = listed.stdout.trim().split("\n");
    for (const module of SERVICE_MODULES) {
      for (const service of module.services) {
        assert.ok(services.includes(service.typeName), `${service.typeName} is not served`);
        const health = await bufCurl(["--data", JSON.stringify({ service: service.typeName }), `http://127.0.0.1:${host.grpcPort}/grpc.health.v1.Health/Check`]);
        assert.deepEqual(JSON.parse(health.stdout), { status: "SERVING" }, health.stderr);
      }
    }
  });

  it("answers UNIMPLEMENTED for RPCs not built yet, over gRPC and through the gateway", async function () {
    const pending = host.server.methodStatus().find((m) => !m.implemented);
    if (!pending) return this.skip(); // every RPC is built
    const service = SERVICE_MODULES.flatMap((m) => m.services).find((s) => s.typeName === pending.service)!;
    const method = service.methods.find((m) => m.name === pending.method)!;
    const client = createClient(service, `127.0.0.1:${host.grpcPort}`) as unknown as Record<string, (req: object) => Promise<unknown> | AsyncIterable<unknown>>;
    const call = async () => {
      const result = client[method.localName]!({});
      if (Symbol.asyncIterator in Object(result)) for await (const _ of result as AsyncIterable<unknown>);
      else await result;
    };
    await assert.rejects(call(), (err: AppError) => err.code === status.UNIMPLEMENTED && /not implemented yet/.test(err.message));
    const res = await fetch(`http://127.0.0.1:${host.gatewayPort}/${pending.service}/${pending.method}`, {
      method: "POST", headers: { "content-type": "application/json" }, body: "{}",
    });
    if (method.methodKind === "unary") {
      assert.equal(res.status, 501);
      assert.match(((await res.json()) as { message: string }).message, /not implemented yet/);
    }
  });

  it("matches the README's status table (run `npm run status-table` after adding handlers)", async () => {
    const readme = await readFile(new URL("../README.md", import.meta.url), "utf8");
    assert.equal(readme, withStatusTable(readme, statusTable(host.server.methodStatus())));
  });

  it("is ready only with Postgres, the cache, the bus and every service started, and says so", async () => {
    const res = await fetch(`http://127.0.0.1:${host.adminPort}/readyz`);
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { status: "ok", checks: { postgres: "ok", cache: "ok", bus: "ok", services: "ok" } });
  });

  it("exposes /metrics in valid exposition format, counting calls by method and code", async () => {
    await assert.rejects(createClient(OrganizationService, `127.0.0.1:${host.grpcPort}`).listOrganizations({}), (err: AppError) => err.code === status.UNAUTHENTICATED);
    const samples = parseExposition(await (await fetch(`http://127.0.0.1:${host.adminPort}/metrics`)).text());
    const counted = samples.find((s) => s.name === "grpc_server_handled_total" && s.labels.grpc_method === "ListOrganizations" && s.labels.grpc_code === "UNAUTHENTICATED");
    assert.ok(counted && counted.value >= 1);
  });
});

describe("the rollcall process", function () {
  this.timeout(60_000);

  it("starts with `serve`, prints its ports, and stops cleanly on SIGTERM", async () => {
    const dataDir = await mkdtemp(join(tmpdir(), "rollcall-proc-"));
    const database = process.env.DATABASE_URL ? await openTestDatabase() : undefined;
    try {
      const child = spawn(process.execPath, ["--import", "tsx", "services/main.ts", "serve"], {
        env: { ...process.env, ...meshEnv(dataDir, database?.url) },
        stdio: ["ignore", "pipe", "pipe"],
      });
      let output = "";
      child.stdout.on("data", (chunk) => (output += chunk));
      child.stderr.on("data", (chunk) => (output += chunk));
      const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
      const deadline = Date.now() + 45_000;
      while (!/Press Ctrl-C to stop/.test(output) && Date.now() < deadline && child.exitCode === null) await new Promise((r) => setTimeout(r, 100));
      assert.match(output, /gRPC +127\.0\.0\.1:\d+/, output);
      const port = /gRPC +127\.0\.0\.1:(\d+)/.exec(output)![1];
      const health = await bufCurl(["--data", "{}", `http://127.0.0.1:${port}/grpc.health.v1.Health/Check`]);
      assert.deepEqual(JSON.parse(health.stdout), { status: "SERVING" });
      child.kill("SIGTERM");
      assert.equal(await exited, 0, output);
    } finally {
      await database?.drop();
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  it("refuses to start on bad configuration, naming every bad variable", async () => {
    const child = spawn(process.execPath, ["--import", "tsx", "services/main.ts", "serve"], {
      env: { ...process.env, ROLLCALL_GRPC_PORT: "http", DATABASE_URL: "mysql://x" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (chunk) => (stderr += chunk));
    const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
    assert.equal(code, 1);
    assert.match(stderr, /ROLLCALL_GRPC_PORT="http" must be a whole number/);
    assert.match(stderr, /DATABASE_URL must use postgres: or postgresql:/);
  });
});
