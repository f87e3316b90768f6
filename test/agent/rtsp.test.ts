import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { status } from "@grpc/grpc-js";
import { loadAgentConfig } from "../../agent/src/config.js";
import { openSource } from "../../agent/src/capture/sources.js";
import { createDetector, type FaceDetector } from "../../agent/src/pipeline/detector.js";
import { AppError } from "../../services/runtime/errors.js";
import { closedPorts } from "../support/ports.js";
import { HEIGHT, MODELS_DIR, walkBy, WIDTH } from "./support/frames.js";
import { waitFor } from "./support/nats-server.js";
import { startAgentProcess } from "./support/agent-process.js";
import { ffmpegMissing, startRtspCamera, writeH264Clip, type RtspCamera } from "./support/rtsp.js";

const ORG = "0b6f0a4e-8d0c-4d57-9c39-2f9d8c1e7a11";
const DEVICE_ENV = { ROLLCALL_DEVICE_ID: "5c2e1f7a-3b4d-4e8f-a1b2-c3d4e5f60718", ROLLCALL_DEVICE_SECRET: "device-secret-for-rtsp" };
const CAMERA_LOGIN = { user: "door", password: "Rtsp-pw-4711" };
const STREAM_FPS = 20;

/** A metric's samples summed, from /metrics text (test/support's strict parser refuses prom-client's "Nan" event-loop lag before its first sample). */
const sample = (exposition: string, name: string) =>
  exposition.split("\n").filter((line) => line.startsWith(`${name}{`) || line.startsWith(`${name} `)).reduce((sum, line) => sum + Number(line.split(" ").at(-1)), 0);

describe("agent RTSP source: H.264 from an RTSP server on loopback (rtsp-streaming-server, published by ffmpeg)", function () {
  this.timeout(90_000);
  let dir: string;
  let camera: RtspCamera | undefined;
  let detector: FaceDetector;

  before(async function () {
    const missing = ffmpegMissing();
    if (missing) {
      // .ci/run installs ffmpeg; mocha's skip takes no reason, so it is printed.
      console.warn(`    skipped: ${missing}`);
      this.skip();
    }
    dir = await mkdtemp(path.join(tmpdir(), "agent-rtsp-"));
    const clip = path.join(dir, "door.mp4");
    await writeH264Clip(clip, walkBy("identities/img4.jpg", STREAM_FPS), STREAM_FPS);
    camera = await startRtspCamera(clip, CAMERA_LOGIN);
    detector = await createDetector("onnxruntime", MODELS_DIR, 1);
  });
  after(async () => {
    camera?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /** The agent's own configuration path: --source as the operator gives it. */
  const configFor = (source: string) => loadAgentConfig({ source, fps: "5", modelsDir: MODELS_DIR }, DEVICE_ENV);

  it("--source rtsp://user:password@… opens as a live stream, described without the password, with the walking person's face in its frames", async () => {
    const config = configFor(camera!.url);
    assert.equal(config.source.kind, "url");
    const source = await openSource(config);
    try {
      assert.equal(source.live, true, "the capture loop samples a live source down to --fps instead of reading it as fast as it can");
      assert.equal(source.description, `rtsp://***@127.0.0.1:${camera!.readPort}/cam`);
      // Live: frames come at the camera's pace, not as fast as they decode. What FFmpeg buffered while it
      // probed the stream (over a second of it) comes at once first, so the pace is the median gap of the last reads.
      const arrivals: number[] = [];
      for (let i = 0; i < 70; i++) {
        const frame = await source.read();
        assert.ok(frame, `frame ${i} from the stream`);
        arrivals.push(Date.now());
        frame.release();
      }
      const gaps = arrivals.slice(-21).map((at, i, all) => at - (all[i - 1] ?? at)).slice(1).sort((a, b) => a - b);
      const gap = gaps[10]!;
      assert.ok(gap >= 25 && gap <= 100, `frames ${gap} ms apart from a ${STREAM_FPS} fps camera (${1000 / STREAM_FPS} ms)`);
      const count = 20;
      let withFace = 0;
      for (let i = 0; i < count; i++) {
        const frame = await source.read();
        assert.ok(frame, `frame ${i} from the stream`);
        assert.deepEqual([frame.cols, frame.rows], [WIDTH, HEIGHT]);
        if ((await detector.detect(frame, 0.7)).length === 1) withFace++;
        frame.release();
      }
      assert.ok(withFace >= count * 0.8, `a face in ${withFace} of ${count} decoded frames`);
    } finally {
      source.close();
    }
  });

  it("a wrong password fails at start, naming the stream without any password, and nothing the agent prints carries one", async () => {
    const wrong = "Wrong-pw-0815";
    const run = await runAgentProcess(camera!.urlWith(CAMERA_LOGIN.user, wrong));
    assert.equal(await run.exited, 4, `exit 4 (unavailable): ${run.output()}`);
    assert.match(run.output(), new RegExp(`cannot open the stream rtsp://\\*\\*\\*@127\\.0\\.0\\.1:${camera!.readPort}/cam: FFmpeg could not connect`));
    assert.match(run.output(), /401 Unauthorized/, "FFmpeg's reason is shown beside it");
    assert.ok(!run.output().includes(wrong) && !run.output().includes(CAMERA_LOGIN.password), `a password in:\n${run.output()}`);
    const err = await openSource(configFor(camera!.urlWith(CAMERA_LOGIN.user, wrong))).catch((e: unknown) => e);
    assert.ok(err instanceof AppError && err.code === status.UNAVAILABLE, String(err));
  });

  it("the agent process samples the 20 fps stream down to --fps 5 and detects the face; its logs and /metrics never show the password", async () => {
    const run = await runAgentProcess(camera!.url);
    let code: number | null = null;
    try {
      await waitFor(() => run.output().includes('"agent started"'), "the agent to start", 60_000);
      const started = JSON.parse(run.output().split("\n").find((line) => line.includes('"agent started"'))!) as { source: string; metricsPort: number };
      assert.equal(started.source, `rtsp://***@127.0.0.1:${camera!.readPort}/cam`);
      const metrics = async () => (await fetch(`http://127.0.0.1:${started.metricsPort}/metrics`)).text();
      await waitFor(async () => sample(await metrics(), "rollcall_agent_frames_captured_total") >= 1, "the first frame from the stream", 30_000);
      const [start, first] = [Date.now(), sample(await metrics(), "rollcall_agent_frames_captured_total")];
      await new Promise((resolve) => setTimeout(resolve, 3_000));
      const text = await metrics();
      const rate = (sample(text, "rollcall_agent_frames_captured_total") - first) / ((Date.now() - start) / 1000);
      assert.ok(rate >= 3 && rate <= 8, `captured ${rate.toFixed(2)} frames/s from a ${STREAM_FPS} fps stream at --fps 5`);
      assert.ok(sample(text, "rollcall_agent_faces_detected_total") >= 1, "the face was detected");
      assert.ok(!text.includes(CAMERA_LOGIN.password), "no password on /metrics");
    } finally {
      code = await run.terminate();
    }
    assert.equal(code, 0, run.output());
    assert.ok(!run.output().includes(CAMERA_LOGIN.password), `a password in:\n${run.output()}`);
  });

  /**
   * The agent as its own process, on the stream, with everything it prints (its logs and native
   * OpenCV/FFmpeg stderr). Offline on purpose: with --organization it needs neither identity nor
   * NATS to capture (its crops go to the spool), so both point at closed ports.
   */
  async function runAgentProcess(source: string) {
    const [identity, nats] = await closedPorts(2);
    return startAgentProcess([
      "--source", source, "--fps", "5", "--models", MODELS_DIR, "--organization", ORG,
      "--identity", `127.0.0.1:${identity}`, "--nats", `nats://127.0.0.1:${nats}`, "--metrics-port", "0", "--spool-dir", path.join(dir, `spool-${Date.now()}`),
      "--shutdown-grace-ms", "0", "--log-level", "info",
    ], DEVICE_ENV);
  }
});
