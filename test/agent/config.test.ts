import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { loadAgentConfig } from "../../agent/src/config.js";
import { agentCommand } from "../../agent/src/command.js";
import { ConfigError } from "../../services/runtime/config.js";

const DEVICE = "7d3f4a52-1a8e-4c7b-9f8e-3b1f0c2d4e5a";

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

  it("--help explains every option with its environment variable", () => {
    const help = agentCommand().helpInformation();
    for (const flag of ["--source", "--fps", "--motion", "--detector", "--device-id", "--device-secret", "--nats", "--spool-dir", "--spool-max-bytes", "--metrics-port", "--heartbeat-ms", "--full-frames"]) {
      assert.ok(help.includes(flag), `${flag} in --help`);
    }
    assert.ok(help.includes("ROLLCALL_AGENT_SPOOL_DIR") && help.includes("NATS_URL"));
  });
});
