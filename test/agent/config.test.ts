import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { loadAgentConfig, OPTIONS, type OptionSpec } from "../../agent/src/config.js";
import { EXIT } from "../../cli/exit-codes.js";
import { ConfigError } from "../../services/runtime/config.js";

const DEVICE = "7d3f4a52-1a8e-4c7b-9f8e-3b1f0c2d4e5a";
const REPO = path.resolve(import.meta.dirname, "../..");

/** Runs a command of the checkout (through tsx) to its end: exit code and everything it printed. */
function run(script: string, args: string[], env: Record<string, string> = {}): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ["--import", "tsx", script, ...args], { cwd: REPO, env: { ...process.env, ...env }, timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as { code?: number }).code ?? -1) : 0, output: stdout + stderr });
    });
  });
}

describe("agent config: flags over environment over defaults, every problem at once, --help", () => {
  let dir: string;
  before(async () => (dir = await mkdtemp(path.join(tmpdir(), "agent-config-"))));
  after(() => rm(dir, { recursive: true, force: true }));

  it("reads flags and environment and tells the source kinds apart", () => {
    const env = { ROLLCALL_DEVICE_ID: DEVICE, ROLLCALL_DEVICE_SECRET: "s3cret", ROLLCALL_AGENT_FPS: "15" };
    const config = loadAgentConfig({ source: dir, fps: "12.5", motion: "off" }, env);
    assert.deepEqual(config.source, { kind: "dir", location: dir, cameraIndex: undefined });
    assert.equal(config.fps, 12.5, "the flag wins over the environment");
    assert.equal(config.motion.enabled, false);
    assert.equal(config.detector.backend, "onnxruntime");
    assert.equal(loadAgentConfig({ source: "/dev/video2" }, env).source.cameraIndex, 2);
    assert.equal(loadAgentConfig({ source: "rtsp://user:pw@cam.local/stream" }, env).source.kind, "url");
    assert.equal(loadAgentConfig({ source: "http://127.0.0.1:8081/mjpeg" }, env).source.kind, "url");
  });

  it("reports every bad value at once, naming the flag and its variable", () => {
    try {
      loadAgentConfig({ source: "/no/such/file.mp4", fps: "0", backend: "cuda", deviceId: "not-a-uuid", nats: "http://x", spoolMax: "10" }, {});
      assert.fail("should throw");
    } catch (err) {
      assert.ok(err instanceof ConfigError);
      const text = err.problems.join("\n");
      for (const expected of ["--source", "--fps (ROLLCALL_AGENT_FPS)", "--detector (ROLLCALL_AGENT_DETECTOR)", "--device-id (ROLLCALL_DEVICE_ID)", "must be a UUID", "--device-secret (ROLLCALL_DEVICE_SECRET) is required", "--nats (NATS_URL)", "--spool-max-bytes"]) {
        assert.ok(text.includes(expected), `${expected} in:\n${text}`);
      }
    }
  });

  it("`rollcall agent --help` explains every option of the option table, with its flag, environment variable and default", async () => {
    const { code, output } = await run("cli/main.ts", ["agent", "--help"]);
    assert.equal(code, 0, output);
    // One entry per option: its first line starts with "  -"; commander wraps the rest.
    const entries = output.split(/\n(?=  -)/).map((entry) => entry.replace(/\s+/g, " ").trim());
    const specs: OptionSpec[] = Object.values(OPTIONS);
    assert.ok(specs.length >= 40);
    for (const spec of specs) {
      const entry = entries.find((e) => e.startsWith(`${spec.flag} `));
      assert.ok(entry, `${spec.flag} in --help`);
      assert.ok(entry.includes(spec.description.replace(/\s+/g, " ")), `${spec.flag} is explained:\n${entry}`);
      const env = spec.default === undefined ? `[env ${spec.env}]` : `[env ${spec.env}; default ${spec.default}]`;
      assert.ok(entry.endsWith(env), `${spec.flag} names ${env}:\n${entry}`);
    }
  });

  it("exits 1 (bad usage or input, as the rollcall CLI) on a bad configuration, listing every problem", async () => {
    const { code, output } = await run("agent/bin/rollcall-agent.ts", ["--source", path.join(dir, "missing.mp4"), "--fps", "0", "--transport", "carrier-pigeon"], { ROLLCALL_DEVICE_ID: DEVICE, ROLLCALL_DEVICE_SECRET: "s3cret" });
    assert.equal(code, EXIT.USAGE, output);
    assert.match(output, /--source \(ROLLCALL_AGENT_SOURCE\)/);
    assert.match(output, /--fps \(ROLLCALL_AGENT_FPS\)="0"/);
    assert.match(output, /--transport \(ROLLCALL_AGENT_TRANSPORT\)="carrier-pigeon"/);
    assert.match(output, /--help explains every option/);
  });
});
