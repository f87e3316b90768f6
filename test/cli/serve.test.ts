import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { Namespace } from "../../services/runtime/bus/subjects.js";
import { bufCurl } from "../support/buf.js";
import { deleteStreams } from "../support/bus.js";
import { openTestDatabase, type TestDatabase } from "../support/database.js";
import { eventually } from "../support/eventually.js";
import { freePorts } from "../support/ports.js";
import { CliRunner, REPO, ROLLCALL_BIN } from "./support.js";

/**
 * `rollcall serve authz` as a child process (authz needs no models), on the embedded defaults or
 * on the real servers when their URLs are set, with its own database, key prefix and bus namespace.
 */
describe("rollcall serve <service>: one service of the mesh", function () {
  this.timeout(180_000);
  let work: string;
  let database: TestDatabase | undefined;
  let child: ChildProcess | undefined;
  let output = "";
  const namespace = `sv${process.pid}x${randomBytes(3).toString("hex")}`;

  before(async () => {
    work = await mkdtemp(path.join(tmpdir(), "rollcall-serve-"));
    database = process.env.DATABASE_URL ? await openTestDatabase() : undefined;
  });
  after(async () => {
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child!.once("exit", resolve));
      child.kill("SIGKILL");
      await exited;
    }
    await database?.drop();
    if (process.env.NATS_URL) await deleteStreams(process.env.NATS_URL, new Namespace(namespace).streamPrefix);
    await rm(work, { recursive: true, force: true });
  });

  it("serves only the named service, is ready, and exits 0 on SIGTERM", async () => {
    const [grpc, admin] = await freePorts(2);
    const target = `127.0.0.1:${grpc}`;
    child = spawn(process.execPath, [ROLLCALL_BIN, "serve", "authz"], {
      cwd: REPO,
      env: {
        PATH: process.env.PATH ?? "", HOME: work, LOG_LEVEL: "warn",
        ROLLCALL_GRPC_PORT: String(grpc), ROLLCALL_ADMIN_PORT: String(admin), ROLLCALL_DATA_DIR: path.join(work, "data"),
        ROLLCALL_BUS_NAMESPACE: namespace, ROLLCALL_SHUTDOWN_GRACE_MS: "1000",
        ...(database ? { DATABASE_URL: database.url } : {}),
        ...(process.env.REDIS_URL ? { REDIS_URL: process.env.REDIS_URL, ROLLCALL_CACHE_PREFIX: `${namespace}:` } : {}),
        ...(process.env.NATS_URL ? { NATS_URL: process.env.NATS_URL } : {}),
      },
    });
    child.stdout!.setEncoding("utf8").on("data", (d: string) => (output += d));
    child.stderr!.setEncoding("utf8").on("data", (d: string) => (output += d));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child!.once("exit", (code, signal) => resolve({ code, signal })));

    const ready = await eventually(async () => {
      if (child!.exitCode !== null) throw new Error(`rollcall serve exited ${child!.exitCode}:\n${output}`);
      const res = await fetch(`http://127.0.0.1:${admin}/readyz`);
      return res.ok ? ((await res.json()) as { status: string; checks: Record<string, string> }) : undefined;
    }, "rollcall serve authz to be ready", 120_000, 250).catch((err: Error) => assert.fail(`${err.message}\n${output}`));
    assert.deepEqual(ready, { status: "ok", checks: { postgres: "ok", cache: "ok", bus: "ok", services: "ok" } });
    assert.match(output, /Rollcall is up\.\n {2}gRPC {5}127\.0\.0\.1:\d+\n {2}admin .*\nPress Ctrl-C to stop\./, "no gateway line: only authz was asked for");

    // Health: authz is SERVING; identity's services are not hosted here (grpc.health.v1 answers NOT_FOUND).
    const health = (service: string) => bufCurl(["--data", JSON.stringify({ service }), `http://${target}/grpc.health.v1.Health/Check`]);
    for (const service of ["", "rollcall.authz.v1.AuthzService"]) {
      const res = await health(service);
      assert.equal(res.code, 0, res.stderr);
      assert.deepEqual(JSON.parse(res.stdout), { status: "SERVING" });
    }
    const identity = await health("rollcall.identity.v1.UserService");
    assert.notEqual(identity.code, 0);
    assert.match(identity.stderr, /not_found/i);
    const listed = await bufCurl(["--list-services", `http://${target}`]);
    assert.equal(listed.code, 0, listed.stderr);
    const ours = listed.stdout.trim().split("\n").filter((name) => name.startsWith("rollcall."));
    assert.ok(ours.length > 0 && ours.every((name) => name.startsWith("rollcall.authz.")), `services offered: ${listed.stdout}`);

    // A CLI command served by another service: UNIMPLEMENTED here (exit 8).
    const cli = await CliRunner.create(target);
    try {
      const result = await cli.run(["whoami"], { env: { ROLLCALL_TOKEN: "not-checked-before-routing" } });
      assert.equal(result.code, 8, `${result.stderr}\n${output}`);
      assert.match(result.stderr, /does not implement the call/);
    } finally {
      await cli.dispose();
    }

    child.kill("SIGTERM");
    assert.deepEqual(await exited, { code: 0, signal: null }, output);
    assert.doesNotMatch(output, /"level":(50|60)|error/i, "a clean stop logs no errors");
  });
});
