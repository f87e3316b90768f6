import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fromBinary } from "@bufbuild/protobuf";
import { status } from "@grpc/grpc-js";
import { FrameMessageSchema } from "../../gen/rollcall/vision/v1/bus_pb.js";
import { cv, type Mat } from "../../agent/src/cv.js";
import { openSource, redactUrl } from "../../agent/src/capture/sources.js";
import { loadAgentConfig } from "../../agent/src/config.js";
import { AppError } from "../../services/runtime/errors.js";
import { MotionGate } from "../../agent/src/pipeline/motion.js";
import { createDetector, type FaceDetector } from "../../agent/src/pipeline/detector.js";
import { FramePipeline, type Emitted } from "../../agent/src/pipeline/pipeline.js";
import { FrameMessages } from "../../agent/src/transport/frame-messages.js";
import { AgentMetrics } from "../../agent/src/health/metrics.js";
import { cameraFrame, HEIGHT, MODELS_DIR, walkBy, WIDTH, writeFrames, writeVideo } from "./support/frames.js";
import { startMjpegServer } from "./support/mjpeg.js";

const ORG = "0b6f0a4e-8d0c-4d57-9c39-2f9d8c1e7a11";
const DEVICE = "5c2e1f7a-3b4d-4e8f-a1b2-c3d4e5f60718";
const sourceConfig = (location: string, kind: "dir" | "file" | "url", fps = 10, loop = false) => ({ source: { kind, location }, fps, loop });

describe("agent capture and pipeline (OpenCV): sources, motion gate, detection, tracking, crops", function () {
  this.timeout(60_000);
  let dir: string;
  let detector: FaceDetector;

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), "agent-capture-"));
    detector = await createDetector("onnxruntime", MODELS_DIR, 1);
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it("reads a directory of images in name order, skipping files that are not images", async () => {
    const frames = [cameraFrame("identities/img1.jpg"), cameraFrame("noface/apple.jpg"), cameraFrame("identities/img8.jpg")];
    const images = path.join(dir, "images");
    await writeFrames(images, frames);
    await writeFile(path.join(images, "frame-00001b.jpg"), "not really a jpeg");
    await writeFile(path.join(images, "notes.txt"), "ignored");
    const source = await openSource(sourceConfig(images, "dir"));
    const read = [];
    for (let frame = await source.read(); frame; frame = await source.read()) read.push(frame);
    assert.equal(read.length, 3);
    // JPEG changes pixel values a little; a different frame changes many a lot.
    const differs = (a: Mat, b: Mat) => a.absdiff(b).cvtColor(cv.COLOR_BGR2GRAY).threshold(40, 255, cv.THRESH_BINARY).countNonZero() > WIDTH * HEIGHT * 0.01;
    read.forEach((frame, i) => frames.forEach((original, j) => assert.equal(differs(frame, original), i !== j, `frame ${i} vs written ${j}: name order`)));
  });

  it("reads a video file written with VideoWriter, sampled down to the target fps", async () => {
    const file = path.join(dir, "door.avi");
    writeVideo(file, walkBy("identities/img2.jpg", 20), 20);
    const all = await openSource(sourceConfig(file, "file", 20));
    let count = 0;
    for (let frame = await all.read(); frame; frame = await all.read()) {
      assert.deepEqual([frame.cols, frame.rows], [WIDTH, HEIGHT]);
      count++;
    }
    assert.equal(count, 20);
    const sampled = await openSource(sourceConfig(file, "file", 5));
    let kept = 0;
    while (await sampled.read()) kept++;
    assert.equal(kept, 5, "20 frames at 20 fps sampled to 5 fps");
  });

  it("reads an HTTP MJPEG stream", async () => {
    const stream = path.join(dir, "stream");
    await writeFrames(stream, walkBy("identities/img4.jpg", 5));
    const camera = await startMjpegServer(stream, 20);
    try {
      const source = await openSource(sourceConfig(camera.url, "url"));
      assert.equal(source.live, true);
      for (let i = 0; i < 5; i++) {
        const frame = await source.read();
        assert.ok(frame, `frame ${i} from the stream`);
        assert.deepEqual([frame.cols, frame.rows], [WIDTH, HEIGHT]);
      }
      source.close();
    } finally {
      await camera.stop();
    }
  });

  it("a local camera that is not there (/dev/video7) fails at start with an error naming the device", async function () {
    if (existsSync("/dev/video7")) this.skip(); // this machine has that camera
    const config = loadAgentConfig({ source: "/dev/video7", modelsDir: MODELS_DIR }, { ROLLCALL_DEVICE_ID: DEVICE, ROLLCALL_DEVICE_SECRET: "camera-test" });
    assert.deepEqual(config.source, { kind: "camera", location: "/dev/video7", cameraIndex: 7 });
    const missing = /camera \/dev\/video7 does not exist \(video devices here: [^)]+\): plug the camera in, pass it into the container \(docker run --device \/dev\/video7\)/;
    const err = await openSource(config).catch((e: unknown) => e);
    assert.ok(err instanceof AppError, String(err));
    assert.equal(err.code, status.NOT_FOUND);
    assert.match(err.message, missing);
    // The agent process as an operator starts it (--organization: nothing is asked of identity before the camera opens).
    const run = spawnSync(process.execPath, ["--import", "tsx", "agent/bin/rollcall-agent.ts", "--source", "/dev/video7", "--organization", ORG, "--models", MODELS_DIR, "--metrics-port", "0", "--spool-dir", path.join(dir, "camera-spool")], {
      cwd: path.resolve(import.meta.dirname, "../.."),
      env: { ...process.env, ROLLCALL_DEVICE_ID: DEVICE, ROLLCALL_DEVICE_SECRET: "camera-test" },
      encoding: "utf8",
      timeout: 60_000,
    });
    assert.equal(run.status, 2, `exit 2 (not found): ${run.stderr}`);
    assert.match(run.stderr, /^rollcall agent: cannot start: camera \/dev\/video7 does not exist/m);
    assert.doesNotMatch(run.stderr, /at .*\.ts:\d+/, "a message, not a stack trace");
  });

  it("motion gate: a still scene is skipped, movement and keyframes pass", () => {
    const gate = new MotionGate({ width: 160, pixelThreshold: 25, minAreaFraction: 0.003, keyframeMs: 2_000 });
    const still = cameraFrame("identities/img1.jpg");
    assert.equal(gate.check(still, 0), true, "the first frame");
    assert.equal(gate.check(still.copy(), 100), false, "nothing moved");
    assert.equal(gate.check(cameraFrame("identities/img1.jpg", 2), 200), true, "a person moved 2 px... enough at the edges");
    assert.equal(gate.check(cameraFrame("identities/img1.jpg", 2), 300), false);
    assert.equal(gate.check(cameraFrame("noface/fruits.jpg"), 400), true, "a different scene");
    assert.equal(gate.check(cameraFrame("noface/fruits.jpg"), 2_500), true, "keyframe after 2 s without motion");
  });

  it("detects faces with YuNet through both cv.dnn and onnxruntime, and none in photos without a face", async () => {
    const dnn = await createDetector("dnn", MODELS_DIR, 1);
    const face = cameraFrame("identities/img1.jpg");
    const [viaOrt, viaDnn] = [await detector.detect(face, 0.7), await dnn.detect(face, 0.7)];
    assert.equal(viaOrt.length, 1);
    assert.equal(viaDnn.length, 1);
    assert.ok(Math.abs(viaOrt[0]!.box.x - viaDnn[0]!.box.x) < 2 && Math.abs(viaOrt[0]!.box.width - viaDnn[0]!.box.width) < 2, "same network, same boxes");
    for (const photo of ["noface/apple.jpg", "noface/building.jpg", "noface/fruits.jpg"]) {
      assert.deepEqual(await detector.detect(cameraFrame(photo), 0.7), [], photo);
    }
  });

  it("tracks a person walking by and sends a few good crops with landmarks, not one per frame", async () => {
    const metrics = new AgentMetrics(DEVICE);
    const emitted: Emitted[] = [];
    const pipeline = new FramePipeline(detector, {
      maxWidth: 1280,
      motion: { enabled: true, width: 160, pixelThreshold: 25, minAreaFraction: 0.003, keyframeMs: 0 },
      detector: { backend: "onnxruntime", modelsDir: MODELS_DIR, minScore: 0.7, threads: 1 },
      tracker: { minIou: 0.3, maxMissedFrames: 2, maxIdleMs: 3_000, minHits: 2 },
      crops: { perTrack: 3, resendAfterMs: 200, minImprovement: 0.2, margin: 0.4, maxSide: 320, jpegQuality: 90, fullFrames: false },
    }, metrics, (item) => emitted.push(item));
    const frames = [...walkBy("identities/img2.jpg", 12), ...Array.from({ length: 4 }, () => cameraFrame("noface/home.jpg"))];
    const start = Date.now();
    for (const [i, frame] of frames.entries()) await pipeline.process(frame, new Date(start + i * 100));
    pipeline.flush();
    const value = async (name: string) => (await metrics.registry.getSingleMetric(name)!.get()).values.reduce((s, v) => s + v.value, 0);
    assert.equal(await value("rollcall_agent_tracks_started_total"), 1, "one person, one track");
    const crops = emitted.flatMap((e) => (e.kind === "crops" ? e.crops.crops ?? [] : []));
    assert.ok(crops.length >= 1 && crops.length <= 3, `1-3 crops for one track, got ${crops.length}`);
    assert.equal(await value("rollcall_agent_crops_sent_total"), crops.length);
    assert.ok((await value("rollcall_agent_faces_detected_total")) >= 10);
    for (const crop of crops) {
      const image = cv.imdecode(Buffer.from(crop.image!));
      assert.ok(image.cols <= 320 && image.rows <= 320);
      assert.equal(crop.landmarks!.length, 5);
      for (const p of crop.landmarks!) assert.ok(p.x! >= 0 && p.x! <= image.cols && p.y! >= 0 && p.y! <= image.rows, "landmarks in crop pixels");
    }
    const messages = new FrameMessages(ORG, DEVICE);
    const first = emitted[0]!;
    assert.equal(first.kind, "crops");
    const out = first.kind === "crops" ? messages.crops(first.captureTime, first.crops) : undefined;
    const decoded = fromBinary(FrameMessageSchema, out!.data);
    assert.equal(out!.subject, `frames.${ORG}.${DEVICE}`);
    assert.equal(decoded.organizationId, ORG);
    assert.equal(decoded.frame!.deviceId, DEVICE);
    assert.equal(decoded.frame!.sequence, 1n);
    assert.equal(decoded.frame!.frameId, out!.msgId);
    assert.equal(decoded.frame!.payload.case, "crops");
  });
});

describe("agent pipeline diagnosis mode", function () {
  this.timeout(60_000);
  it("--full-frames sends whole frames (vision detects again) instead of crops", async () => {
    const emitted: Emitted[] = [];
    const pipeline = new FramePipeline(await createDetector("onnxruntime", MODELS_DIR, 1), {
      maxWidth: 1280,
      motion: { enabled: false, width: 160, pixelThreshold: 25, minAreaFraction: 0, keyframeMs: 0 },
      detector: { backend: "onnxruntime", modelsDir: MODELS_DIR, minScore: 0.7, threads: 1 },
      tracker: { minIou: 0.3, maxMissedFrames: 2, maxIdleMs: 3_000, minHits: 1 },
      crops: { perTrack: 1, resendAfterMs: 0, minImprovement: 0, margin: 0.4, maxSide: 320, jpegQuality: 80, fullFrames: true },
    }, new AgentMetrics(DEVICE), (item) => emitted.push(item));
    await pipeline.process(cameraFrame("identities/img1.jpg"), new Date());
    assert.equal(emitted.length, 1);
    assert.equal(emitted[0]!.kind, "image");
    const image = cv.imdecode(Buffer.from((emitted[0] as Extract<Emitted, { kind: "image" }>).jpeg));
    assert.deepEqual([image.cols, image.rows], [WIDTH, HEIGHT]);
  });
});

describe("agent source descriptions", () => {
  it("hide a stream's credentials, in the user part and in the query", () => {
    assert.equal(redactUrl("rtsp://door:pw@10.0.0.7:554/cam"), "rtsp://***@10.0.0.7:554/cam");
    assert.equal(redactUrl("http://10.0.0.7/video.mjpg?token=abc&channel=2&Password=x"), "http://10.0.0.7/video.mjpg?token=***&channel=2&Password=***");
    assert.equal(redactUrl("/dev/video0"), "/dev/video0");
  });
});
