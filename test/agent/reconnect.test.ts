import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { Backoff } from "../../agent/src/capture/backoff.js";
import type { LiveSourceListener } from "../../agent/src/capture/live-capture.js";
import { openSource } from "../../agent/src/capture/sources.js";
import { streamCaptureOptions } from "../../agent/src/capture/video-capture.js";
import { closedPorts } from "../support/ports.js";
import { cameraFrame, MODELS_DIR, walkBy, writeFrames } from "./support/frames.js";
import { startMjpegServer, type MjpegCamera } from "./support/mjpeg.js";
import { waitFor } from "./support/nats-server.js";
import { startAgentProcess } from "./support/agent-process.js";

const ORG = "0b6f0a4e-8d0c-4d57-9c39-2f9d8c1e7a11";
const DEVICE_ENV = { ROLLCALL_DEVICE_ID: "5c2e1f7a-3b4d-4e8f-a1b2-c3d4e5f60718", ROLLCALL_DEVICE_SECRET: "device-secret-for-reconnect" };
/** Short, so a silent stream is noticed within the test's patience. */
const TIMEOUT_MS = 1000;

const sample = (exposition: string, name: string) =>
  exposition.split("\n").filter((line) => line.startsWith(`${name}{`) || line.startsWith(`${name} `)).reduce((sum, line) => sum + Number(line.split(" ").at(-1)), 0);

describe("agent live source reconnect: backoff schedule and FFmpeg's timeout option", () => {
  it("waits 0.5 s doubling to 30 s, each wait up to 20% shorter at random, and starts over after a success", () => {
    const longest = new Backoff(undefined, () => 0);
    assert.deepEqual(Array.from({ length: 9 }, () => longest.next()), [500, 1000, 2000, 4000, 8000, 16_000, 30_000, 30_000, 30_000]);
    const shortest = new Backoff(undefined, () => 0.999_999);
    assert.deepEqual(Array.from({ length: 8 }, () => shortest.next()), [400, 800, 1600, 3200, 6400, 12_800, 24_000, 24_000]);
    for (let i = 0; i < 1000; i++) longest.next();
    assert.equal(longest.next(), 30_000, "no overflow after a long outage");
    longest.reset();
    assert.equal(longest.next(), 500);
  });

  it("gives FFmpeg a socket timeout in microseconds, keeping OpenCV's RTSP-over-TCP default and an operator's own options", () => {
    assert.equal(streamCaptureOptions(5000, undefined), "rtsp_flags;prefer_tcp|timeout;5000000");
    assert.equal(streamCaptureOptions(1500, "rtsp_transport;udp"), "rtsp_transport;udp|timeout;1500000");
    assert.equal(streamCaptureOptions(1500, "timeout;9000000|rtsp_transport;tcp"), "timeout;9000000|rtsp_transport;tcp", "the operator's timeout wins");
  });
});

describe("agent live source reconnect: an HTTP MJPEG camera that goes away and comes back", function () {
  this.timeout(120_000);
  let dir: string;
  let frames: string;

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), "agent-reconnect-"));
    frames = path.join(dir, "frames");
    await writeFrames(frames, [...walkBy("identities/img4.jpg", 10), cameraFrame("noface/home.jpg")]);
  });
  after(() => rm(dir, { recursive: true, force: true }));

  /** Every listener call, in order. */
  function recorder() {
    const events: string[] = [];
    const listener: LiveSourceListener = {
      dropped: (reason) => void events.push(`dropped: ${reason}`),
      retryFailed: (attempt, reason) => void events.push(`retry ${attempt} failed: ${reason}`),
      recovered: (attempts, outageMs) => void events.push(`recovered after ${attempts} attempts, ${outageMs} ms`),
    };
    return { events, listener };
  }

  it("a read waits through the outage and returns the restarted camera's frame; the listener hears of it once each way", async () => {
    const camera = await startMjpegServer(frames, 20);
    const { events, listener } = recorder();
    const source = await openSource({ source: { kind: "url", location: camera.url }, fps: 5, loop: false, sourceTimeoutMs: TIMEOUT_MS }, listener);
    try {
      for (let i = 0; i < 3; i++) (await source.read())!.release();
      await camera.stop();
      const read = source.read();
      await waitFor(() => events.some((e) => e.startsWith("retry 2 failed")), "two failed reopenings");
      await camera.restart();
      const frame = await read;
      assert.ok(frame && !frame.empty, "a frame from the restarted camera");
      frame.release();
      assert.match(events[0]!, /^dropped: http:\/\/127\.0\.0\.1:\d+\/video\.mjpg ended \(its connection closed\)$/);
      assert.match(events[1]!, /^retry 1 failed: cannot reach http:\/\/127\.0\.0\.1:\d+\/video\.mjpg: connect ECONNREFUSED 127\.0\.0\.1:\d+; check that the camera is powered/);
      assert.match(events.at(-1)!, /^recovered after \d+ attempts, \d+ ms$/);
      assert.equal(events.filter((e) => e.startsWith("dropped")).length, 1);
      assert.equal(events.filter((e) => e.startsWith("recovered")).length, 1);
    } finally {
      source.close();
      await camera.stop();
    }
  });

  it("a camera that hangs (connection open, nothing sent) counts as dropped after --source-timeout-ms, not FFmpeg's 30 s", async () => {
    const camera = await startMjpegServer(frames, 20);
    const { events, listener } = recorder();
    const source = await openSource({ source: { kind: "url", location: camera.url }, fps: 5, loop: false, sourceTimeoutMs: TIMEOUT_MS }, listener);
    try {
      (await source.read())!.release();
      camera.freeze();
      const frozenAt = Date.now();
      const read = source.read();
      await waitFor(() => events.length > 0, "the drop", 15_000);
      const noticedMs = Date.now() - frozenAt;
      assert.match(events[0]!, new RegExp(`^dropped: http://127\\.0\\.0\\.1:\\d+/video\\.mjpg sent nothing for ${TIMEOUT_MS} ms$`));
      // The frames already on their way are read first; then one timeout.
      assert.ok(noticedMs >= TIMEOUT_MS && noticedMs < TIMEOUT_MS + 3000, `noticed after ${noticedMs} ms`);
      camera.thaw();
      (await read)!.release();
      assert.match(events.at(-1)!, /^recovered after \d+ attempts/);
    } finally {
      source.close();
      await camera.stop();
    }
  });

  it("an abort ends a read waiting to reconnect at once", async () => {
    const camera = await startMjpegServer(frames, 20);
    const { events, listener } = recorder();
    const source = await openSource({ source: { kind: "url", location: camera.url }, fps: 5, loop: false, sourceTimeoutMs: TIMEOUT_MS }, listener);
    try {
      (await source.read())!.release();
      await camera.stop();
      const abort = new AbortController();
      const read = source.read(abort.signal);
      await waitFor(() => events.length > 0, "the drop");
      const at = Date.now();
      abort.abort();
      assert.equal(await read, undefined);
      assert.ok(Date.now() - at < 500, `the read ended ${Date.now() - at} ms after the abort`);
    } finally {
      source.close();
    }
  });

  describe("the agent process", () => {
    let camera: MjpegCamera;
    let agent: ReturnType<typeof runAgent>;
    let metricsPort: number;
    const metrics = async () => (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    const readyz = async () => {
      const res = await fetch(`http://127.0.0.1:${metricsPort}/readyz`);
      return { status: res.status, body: (await res.json()) as { checks?: Record<string, string> } };
    };
    const value = async (name: string) => sample(await metrics(), name);
    /** Polls /readyz until it answers `status`; how long that took. */
    const readyzBecomes = async (status: number, what: string, timeoutMs = 30_000) => {
      const start = Date.now();
      await waitFor(async () => (await readyz()).status === status, what, timeoutMs);
      return Date.now() - start;
    };

    before(async () => {
      camera = await startMjpegServer(frames, 20);
      const [identity, nats] = await closedPorts(2);
      agent = runAgent(camera.url, identity!, nats!);
      await waitFor(() => agent.output().includes('"agent started"'), "the agent to start", 60_000);
      metricsPort = (JSON.parse(agent.output().split("\n").find((line) => line.includes('"agent started"'))!) as { metricsPort: number }).metricsPort;
    });
    after(async () => {
      await agent?.kill();
      await camera?.stop();
    });

    it("keeps running while the camera is away: /readyz 503 with the reason, source_up 0; then frames, faces and /readyz 200 again, one reconnect counted", async () => {
      await waitFor(async () => (await value("rollcall_agent_faces_detected_total")) >= 1, "a face from the camera", 30_000);
      assert.equal((await readyz()).status, 200);
      assert.equal(await value("rollcall_agent_source_up"), 1);

      await camera.stop();
      await readyzBecomes(503, "/readyz 503 after the camera stopped");
      const { body } = await readyz();
      assert.match(body.checks!.source!, /^source down since \S+, \d+ reopening attempts so far: /);
      assert.equal(await value("rollcall_agent_source_up"), 0);
      assert.equal(await value("rollcall_agent_source_reconnects_total"), 0);
      await waitFor(async () => /[2-9] reopening attempts/.test((await readyz()).body.checks?.source ?? ""), "a few failed reopenings");
      assert.equal(agent.exitCode(), null, `the agent is still running:\n${agent.output()}`);

      const [frames, faces] = [await value("rollcall_agent_frames_captured_total"), await value("rollcall_agent_faces_detected_total")];
      await camera.restart();
      await readyzBecomes(200, "/readyz 200 after the camera came back");
      assert.equal(await value("rollcall_agent_source_up"), 1);
      assert.equal(await value("rollcall_agent_source_reconnects_total"), 1);
      await waitFor(async () => (await value("rollcall_agent_faces_detected_total")) > faces, "a face after the restart", 30_000);
      assert.ok((await value("rollcall_agent_frames_captured_total")) > frames, "frames flow again");
    });

    it("notices a hung camera after --source-timeout-ms and logs each outage once, its end once with the attempts", async () => {
      camera.freeze();
      await readyzBecomes(503, "/readyz 503 after the camera hung", 15_000);
      assert.match((await readyz()).body.checks!.source!, new RegExp(`sent nothing for ${TIMEOUT_MS} ms|FFmpeg could not connect`));
      camera.thaw();
      await readyzBecomes(200, "/readyz 200 after the camera went on");
      assert.equal(await value("rollcall_agent_source_reconnects_total"), 2);

      const logged = (msg: string) => agent.output().split("\n").filter((line) => line.includes(`"msg":"${msg}`)).map((line) => JSON.parse(line) as { reason?: string; attempts?: number });
      const dropped = logged("source dropped");
      assert.equal(dropped.length, 2, "one line per outage");
      assert.match(dropped[0]!.reason!, /ended \(its connection closed\)/);
      assert.match(dropped[1]!.reason!, new RegExp(`sent nothing for ${TIMEOUT_MS} ms`));
      const back = logged("source back");
      assert.equal(back.length, 2, "one line per recovery");
      assert.ok(back[0]!.attempts! >= 2, `the first outage took ${back[0]!.attempts} attempts`);
    });

    it("stops within a couple of seconds on SIGTERM during an outage, exit 0", async () => {
      await camera.stop();
      await readyzBecomes(503, "/readyz 503 after the camera stopped");
      await waitFor(async () => /[1-9] reopening attempts/.test((await readyz()).body.checks?.source ?? ""), "the agent waiting to reopen");
      const start = Date.now();
      const code = await agent.terminate();
      const tookMs = Date.now() - start;
      assert.equal(code, 0, agent.output());
      assert.ok(tookMs < 3000, `exited ${tookMs} ms after SIGTERM`);
      assert.match(agent.output(), /"agent stopped"/);
    });
  });

  /** The agent process on `source`, offline on purpose (--organization; identity and NATS on closed ports): crops go to the spool. */
  function runAgent(source: string, identityPort: number, natsPort: number) {
    return startAgentProcess(["--source", source, "--fps", "5", "--source-timeout-ms", String(TIMEOUT_MS),
      "--models", MODELS_DIR, "--organization", ORG, "--identity", `127.0.0.1:${identityPort}`, "--nats", `nats://127.0.0.1:${natsPort}`, "--metrics-port", "0",
      "--spool-dir", path.join(dir, "spool"), "--shutdown-grace-ms", "0", "--log-level", "info"], DEVICE_ENV);
  }
});
