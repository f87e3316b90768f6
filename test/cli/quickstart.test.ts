import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { openTestDatabase, type TestDatabase } from "../support/database.js";
import { FACES_DIR, MODELS_DIR } from "../vision/support.js";
import { freePorts } from "../support/ports.js";
import { CliRunner, REPO, ROLLCALL_BIN, runProcess } from "./support.js";

/** The fenced block marked `sh quickstart` in README.md: what a new user types. */
export async function quickstartBlock(): Promise<string> {
  const readme = await readFile(path.join(REPO, "README.md"), "utf8");
  const block = /```sh quickstart\n([\s\S]*?)```/.exec(readme)?.[1];
  if (!block) throw new Error("README.md has no ```sh quickstart block");
  return block;
}

const eventually = async <T>(what: string, probe: () => Promise<T | undefined>, timeoutMs: number): Promise<T> => {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
};

/**
 * README quickstart, run verbatim: `rollcall serve` (what `npm start` runs) as a child on free
 * ports and a fresh data dir, the password it prints fed to the first `rollcall login`, and the
 * README block run by bash with `rollcall` on PATH (as `npm link` puts it) in an empty folder.
 */
describe("README quickstart", function () {
  this.timeout(600_000);
  let work: string;
  let mesh: ChildProcess | undefined;
  let database: TestDatabase | undefined;
  let meshOutput = "";

  before(async () => {
    work = await mkdtemp(path.join(tmpdir(), "rollcall-quickstart-"));
  });
  after(async () => {
    if (mesh && mesh.exitCode === null) {
      const exited = new Promise((resolve) => mesh!.once("exit", resolve));
      mesh.kill("SIGINT");
      await exited;
    }
    await database?.drop();
    await rm(work, { recursive: true, force: true });
  });

  it("runs the README's command sequence against the all-in-one mesh", async () => {
    const [grpc, admin, gateway] = await freePorts(3);
    const namespace = `qs${process.pid}x${randomBytes(3).toString("hex")}`;
    database = process.env.DATABASE_URL ? await openTestDatabase() : undefined;
    const shared: Record<string, string> = {
      PATH: process.env.PATH ?? "", HOME: work, ROLLCALL_MODELS_DIR: MODELS_DIR, ROLLCALL_BUS_NAMESPACE: namespace,
      ...(database ? { DATABASE_URL: database.url } : {}),
      ...(process.env.REDIS_URL ? { REDIS_URL: process.env.REDIS_URL, ROLLCALL_CACHE_PREFIX: `${namespace}:` } : {}),
      ...(process.env.NATS_URL ? { NATS_URL: process.env.NATS_URL } : {}),
    };
    mesh = spawn(process.execPath, [ROLLCALL_BIN, "serve"], {
      cwd: work,
      env: { ...shared, ROLLCALL_GRPC_PORT: String(grpc), ROLLCALL_ADMIN_PORT: String(admin), ROLLCALL_GATEWAY_PORT: String(gateway), ROLLCALL_DATA_DIR: path.join(work, "data"), LOG_LEVEL: "warn" },
    });
    mesh.stdout!.setEncoding("utf8").on("data", (d: string) => (meshOutput += d));
    mesh.stderr!.setEncoding("utf8").on("data", (d: string) => (meshOutput += d));
    const password = await eventually("the mesh to start and print the admin password", async () => {
      if (mesh!.exitCode !== null) return { exited: mesh!.exitCode };
      return meshOutput.includes("Rollcall is up.") ? /Password \(shown once[^)]*\): (\S+)/.exec(meshOutput)?.[1] : undefined;
    }, 240_000).catch((err: Error) => assert.fail(`${err.message}\n${meshOutput}`));
    if (typeof password !== "string") assert.fail(`rollcall serve exited ${JSON.stringify(password)}:\n${meshOutput}`);

    const bin = path.join(work, "bin");
    await mkdir(bin);
    await symlink(ROLLCALL_BIN, path.join(bin, "rollcall"));
    const script = path.join(work, "quickstart.sh");
    await writeFile(script, `set -euxo pipefail\n${await quickstartBlock()}`);
    const addr = `127.0.0.1:${grpc}`;
    const config = path.join(work, "config", "rollcall.json");
    const run = await runProcess("bash", [script], {
      cwd: work, timeoutMs: 400_000,
      env: { ...shared, PATH: `${bin}:${shared.PATH}`, FACES: FACES_DIR, ROLLCALL_ADDR: addr, ROLLCALL_CONFIG: config, ROLLCALL_PASSWORD: password, ROLLCALL_AGENT_METRICS_PORT: "0", LOG_LEVEL: "warn" },
    });
    assert.equal(run.code, 0, `the quickstart failed (exit ${run.code})\n--- output\n${run.stdout}\n--- trace and errors\n${run.stderr}\n--- mesh\n${meshOutput.slice(-4000)}`);
    assert.match(run.stdout, /created organisation acme/);
    assert.match(run.stdout, /2 rows: 2 created/);
    assert.match(run.stdout, /ana .*img1\.jpg: accepted/);
    assert.match(run.stdout, /secret \(shown only now\)/);

    // What the camera saw reaches attendance and audit asynchronously: poll for it.
    const cli = await CliRunner.create(addr);
    try {
      const env = { ROLLCALL_CONFIG: config };
      await eventually("ana to be in today", async () => {
        const today = JSON.parse((await cli.ok(["--json", "attendance", "today"], { env })).stdout) as { people: { username: string; currentlyIn: boolean }[] };
        return today.people.find((p) => p.username === "ana" && p.currentlyIn);
      }, 90_000);
      await eventually("an UNKNOWN_FACE event", async () => {
        const events = (await cli.ok(["--json", "events", "tail", "--type", "UNKNOWN_FACE", "--no-follow"], { env })).stdout.trim();
        return events ? events : undefined;
      }, 90_000);
    } finally {
      await cli.dispose();
    }
  });
});
