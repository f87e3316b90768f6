import assert from "node:assert/strict";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fromBinary } from "@bufbuild/protobuf";
import { createLocalJWKSet, type JSONWebKeySet } from "jose";
import { DeviceDirection, DeviceService } from "../../gen/rollcall/identity/v1/device_pb.js";
import { HeartbeatSchema } from "../../gen/rollcall/audit/v1/bus_pb.js";
import { FrameMessageSchema } from "../../gen/rollcall/vision/v1/bus_pb.js";
import { createBus, type Bus, type BusMessage } from "../../services/runtime/bus/bus.js";
import { Namespace } from "../../services/runtime/bus/subjects.js";
import { STREAMS } from "../../services/runtime/bus/streams.js";
import { createLogger } from "../../services/runtime/logger.js";
import { TokenVerifier } from "../../services/runtime/auth/token-verifier.js";
import { loadAgentConfig } from "../../agent/src/config.js";
import { Agent } from "../../agent/src/agent.js";
import { startIdentityMesh, type IdentityMesh } from "../identity/mesh-fixture.js";
import { cameraFrame, MODELS_DIR, walkBy, writeFrames } from "./support/frames.js";
import { startMjpegServer } from "./support/mjpeg.js";
import { OwnNatsServer, waitFor } from "./support/nats-server.js";
import { startAgentProcess } from "./support/agent-process.js";
import { deleteStreams } from "../support/bus.js";

const logger = createLogger(process.env.LOG_LEVEL ?? "silent");
const NAMESPACE = `agent${process.pid}`;
/** Crops of about 50 KB a message here: two of them overflow a 64 KiB spool, one fits. */
const BIG_CROPS = { cropMaxSide: "512", jpegQuality: "100" };

/** Sums a metric's samples in a Prometheus text exposition. */
function sample(exposition: string, name: string): number {
  return exposition
    .split("\n")
    .filter((line) => line.startsWith(`${name}{`) || line.startsWith(`${name} `))
    .reduce((sum, line) => sum + Number(line.split(" ").at(-1)), 0);
}

/** The .msg files of a spool directory, oldest first, with the JetStream message id each holds. */
async function spooledIds(dir: string): Promise<string[]> {
  const files = (await readdir(dir).catch(() => [] as string[])).filter((f) => f.endsWith(".msg")).sort();
  // A spool file is "subject\nmsgId\npayload".
  return Promise.all(files.map(async (f) => (await readFile(path.join(dir, f))).toString("latin1").split("\n", 2)[1]!));
}

/** Face crops carried by FRAMES messages. */
function cropsIn(messages: BusMessage[]): number {
  return messages.reduce((sum, m) => {
    const payload = fromBinary(FrameMessageSchema, m.data).frame!.payload;
    return sum + (payload.case === "crops" ? payload.value.crops.length : 0);
  }, 0);
}

describe("agent process: device token, FRAMES messages, /metrics, heartbeat, NATS outage, SIGTERM", function () {
  this.timeout(120_000);
  let mesh: IdentityMesh;
  let nats: OwnNatsServer;
  let bus: Bus;
  let dir: string;
  let device: { id: string; secret: string; org: string };
  let frames: string;

  before(async () => {
    [mesh, nats] = await Promise.all([startIdentityMesh(), OwnNatsServer.start()]);
    const registered = await mesh.client(DeviceService, await mesh.adminToken()).registerDevice({ name: "Agent test door", direction: DeviceDirection.IN });
    const issued = await mesh.client(DeviceService).issueDeviceToken({ deviceId: registered.device!.id, secret: registered.secret });
    device = { id: registered.device!.id, secret: registered.secret, org: issued.organizationId };
    bus = await createBus({ url: nats.url, namespace: NAMESPACE, logger });
    await bus.ensureStream(STREAMS.frames);
    await bus.ensureStream(STREAMS.health);
    dir = await mkdtemp(path.join(tmpdir(), "agent-run-"));
    frames = path.join(dir, "frames");
    await writeFrames(frames, [...walkBy("identities/img2.jpg", 8), cameraFrame("noface/home.jpg"), cameraFrame("noface/home.jpg"), ...walkBy("identities/img8.jpg", 8), cameraFrame("noface/home.jpg")]);
  });
  after(async () => {
    await bus?.close();
    await nats?.stop();
    await mesh?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const config = (extra: Record<string, string> = {}) =>
    loadAgentConfig(
      { source: frames, realtime: "false", modelsDir: MODELS_DIR, nats: nats.url, namespace: NAMESPACE, identity: mesh.target, metricsPort: "0", heartbeat: "1000", retry: "100", publishTimeout: "500", trackMinHits: "2", ...extra },
      { ROLLCALL_DEVICE_ID: device.id, ROLLCALL_DEVICE_SECRET: device.secret },
    );

  async function drainFrames(): Promise<BusMessage[]> {
    const seen: BusMessage[] = [];
    // After a NATS restart the test's own connection takes a moment to come back.
    let info: Awaited<ReturnType<Bus["streamInfo"]>> | undefined;
    await waitFor(async () => (info = await bus.streamInfo(STREAMS.frames.name).catch(() => undefined)) !== undefined, "FRAMES stream info", 30_000);
    const stored = info?.messages ?? 0;
    if (stored === 0) return seen;
    const consumer = bus.consume({ stream: STREAMS.frames.name, durable: "agent-test" }, async (batch) => void seen.push(...batch));
    try {
      await waitFor(() => seen.length >= stored, `the ${stored} FRAMES messages (${seen.length} delivered)`);
    } finally {
      await consumer.stop();
    }
    return seen;
  }

  /** Each test counts the FRAMES messages of its own agents only: it starts from a new stream. */
  async function newFramesStream(): Promise<void> {
    await deleteStreams(nats.url, new Namespace(NAMESPACE).stream(STREAMS.frames.name));
    // The test's own connection may still be reconnecting after the previous test's outage.
    await waitFor(() => bus.ensureStream(STREAMS.frames).then(() => true, () => false), "the FRAMES stream", 30_000);
  }
  beforeEach(newFramesStream);

  it("sends each person's best crops to FRAMES with its device token, and counts it all on /metrics", async () => {
    const heartbeats: BusMessage[] = [];
    const hb = bus.consume({ stream: STREAMS.health.name, durable: "agent-test-hb" }, async (batch) => void heartbeats.push(...batch));
    const agent = await Agent.start(config({ spoolDir: path.join(dir, "spool-1") }), { logger });
    await agent.done;
    await agent.outbox.drained(20_000);
    const metrics = await (await fetch(`http://127.0.0.1:${agent.metricsPort}/metrics`)).text();
    await waitFor(() => heartbeats.length > 0, "a heartbeat on HEALTH");
    await agent.stop();
    await hb.stop();

    const messages = await drainFrames();
    assert.ok(messages.length >= 2 && messages.length <= 6, `2 people → a few messages, got ${messages.length}`);
    const verifier = new TokenVerifier({ issuer: "rollcall", audience: "rollcall", keys: createLocalJWKSet((await (await fetch(`http://127.0.0.1:${mesh.host.adminPort}/.well-known/jwks.json`)).json()) as JSONWebKeySet) });
    let lastSequence = 0n;
    for (const message of messages) {
      assert.equal(message.subject, `frames.${device.org}.${device.id}`);
      const caller = await verifier.verify(message.headers.authorization!.replace(/^Bearer /, ""));
      assert.deepEqual([caller.kind, caller.subject, caller.organizationId], ["device", device.id, device.org]);
      const frame = fromBinary(FrameMessageSchema, message.data).frame!;
      assert.equal(frame.frameId, message.msgId, "frame id doubles as the JetStream message id");
      assert.ok(frame.sequence > lastSequence, "sequence grows");
      lastSequence = frame.sequence;
      assert.equal(frame.payload.case, "crops");
    }
    const heartbeat = fromBinary(HeartbeatSchema, heartbeats[0]!.data);
    assert.equal(heartbeat.component, `device:${device.id}`);
    assert.ok(heartbeat.memoryUsage > 0n);
    assert.equal(heartbeat.metadata?.organization_id, device.org, "audit raises DEVICE_DOWN in this organisation");

    assert.equal(sample(metrics, "rollcall_agent_frames_captured_total"), 19);
    assert.ok(sample(metrics, "rollcall_agent_frames_processed_total") >= 16);
    assert.ok(sample(metrics, "rollcall_agent_frames_motion_skipped_total") >= 1, "the repeated empty frame is skipped");
    assert.ok(sample(metrics, "rollcall_agent_faces_detected_total") >= 14);
    assert.equal(sample(metrics, "rollcall_agent_tracks_started_total"), 2);
    assert.equal(sample(metrics, "rollcall_agent_crops_sent_total"), messages.length);
    assert.equal(sample(metrics, "rollcall_agent_messages_published_total"), messages.length);
    assert.ok(sample(metrics, "rollcall_agent_detection_duration_seconds_count") >= 16);
    assert.match(metrics, /# TYPE rollcall_agent_spool_bytes gauge/);
    assert.match(metrics, /# TYPE rollcall_agent_spool_oldest_age_seconds gauge/);
    assert.match(metrics, /# TYPE rollcall_agent_detection_duration_seconds histogram/);
    assert.equal(sample(metrics, "rollcall_agent_connected"), 1);
  });

  it("spools while NATS is down without stalling capture, and replays everything once it is back", async () => {
    await nats.down();
    const spoolDir = path.join(dir, "spool-2");
    const agent = await Agent.start(config({ spoolDir }), { logger });
    await agent.done;
    const offline = await (await fetch(`http://127.0.0.1:${agent.metricsPort}/metrics`)).text();
    assert.equal(sample(offline, "rollcall_agent_frames_captured_total"), 19, "capture went on while offline");
    await waitFor(() => agent.spool.size >= 2, "messages in the spool");
    const spooled = agent.spool.size;
    const during = await (await fetch(`http://127.0.0.1:${agent.metricsPort}/metrics`)).text();
    assert.equal(sample(during, "rollcall_agent_connected"), 0);
    assert.equal(sample(during, "rollcall_agent_spool_messages"), spooled);
    assert.ok(sample(during, "rollcall_agent_spool_bytes") > 0);
    const age = sample(during, "rollcall_agent_spool_oldest_age_seconds");
    assert.ok(age > 0 && age < 120, `the oldest spooled message is ${age} s old`);

    await nats.resume();
    await agent.outbox.drained(30_000);
    await agent.stop();
    const messages = await drainFrames();
    assert.equal(messages.length, spooled, "every spooled message arrived");
    const sequences = messages.map((m) => fromBinary(FrameMessageSchema, m.data).frame!.sequence);
    assert.deepEqual(sequences, [...sequences].sort((a, b) => Number(a - b)), "in order");
  });

  it("keeps the spool under --spool-max-bytes while offline, dropping the oldest and counting them on /metrics", async () => {
    await nats.down();
    const maxBytes = 64 * 1024;
    const agent = await Agent.start(config({ spoolDir: path.join(dir, "spool-capped"), spoolMax: String(maxBytes), ...BIG_CROPS }), { logger });
    try {
      await agent.done;
      await agent.stop(); // the last crops of live tracks are spooled too
      const metrics = (await agent.metrics.exposition()).body;
      assert.ok(agent.spool.dropped > 0, "more was spooled than the cap holds");
      assert.equal(sample(metrics, "rollcall_agent_spool_dropped_total"), agent.spool.dropped);
      assert.ok(agent.spool.size >= 1 && agent.spool.bytes <= maxBytes, `${agent.spool.size} messages, ${agent.spool.bytes} bytes kept`);
      assert.equal(sample(metrics, "rollcall_agent_spool_bytes"), agent.spool.bytes);
      const kept = (await readdir(agent.spool.dir)).filter((f) => f.endsWith(".msg")).sort();
      assert.equal(Number.parseInt(kept[0]!, 10), agent.spool.dropped + 1, "the oldest were dropped, the newest kept");
    } finally {
      await nats.resume();
    }
  });

  it("samples a live HTTP MJPEG camera (20 fps) down to --fps 5", async () => {
    const stream = path.join(dir, "stream");
    await writeFrames(stream, [cameraFrame("noface/home.jpg"), cameraFrame("noface/fruits.jpg")]);
    const camera = await startMjpegServer(stream, 20);
    const agent = await Agent.start(config({ source: camera.url, fps: "5", spoolDir: path.join(dir, "spool-live") }), { logger });
    try {
      const captured = async () => sample((await agent.metrics.exposition()).body, "rollcall_agent_frames_captured_total");
      await waitFor(async () => (await captured()) >= 1, "the first frame from the stream");
      const [start, first] = [Date.now(), await captured()];
      await new Promise((resolve) => setTimeout(resolve, 3_000));
      const rate = ((await captured()) - first) / ((Date.now() - start) / 1000);
      assert.ok(rate >= 3 && rate <= 8, `captured ${rate.toFixed(2)} frames/s from a 20 fps stream at --fps 5`);
    } finally {
      await agent.stop();
      await camera.stop();
    }
  });

  /** The agent as its own process (agent/bin), with this test's identity, NATS and device. */
  function spawnAgent(args: string[]) {
    const agent = startAgentProcess(
      ["--models", MODELS_DIR, "--nats", nats.url, "--namespace", NAMESPACE, "--identity", mesh.target, "--metrics-port", "0", "--retry-ms", "100", "--publish-timeout-ms", "300", "--log-level", "info", ...args],
      { ROLLCALL_DEVICE_ID: device.id, ROLLCALL_DEVICE_SECRET: device.secret },
    );
    return {
      ...agent,
      /** What the agent logged as it stopped. */
      stopped(): { published: number; spooled: number; dropped: number; cropsSent: number } {
        const line = agent.output().split("\n").find((l) => l.includes('"agent stopped"'));
        assert.ok(line, `an "agent stopped" log line in:\n${agent.output()}`);
        return JSON.parse(line) as { published: number; spooled: number; dropped: number; cropsSent: number };
      },
    };
  }

  it("on SIGTERM the agent process stops cleanly and keeps what it could not send in the spool; a restarted agent sends it, in order", async () => {
    await nats.down();
    const spoolDir = path.join(dir, "spool-3");
    const first = spawnAgent(["--source", frames, "--loop", "true", "--fps", "20", "--spool-dir", spoolDir]);
    try {
      await waitFor(async () => (await spooledIds(spoolDir)).length >= 2, "the running agent to spool messages", 60_000);
    } finally {
      assert.equal(await first.terminate(), 0, first.output());
    }
    assert.match(first.output(), /SIGTERM/);
    const spooled = await spooledIds(spoolDir);
    const stopped = first.stopped();
    assert.deepEqual([stopped.published, stopped.spooled, stopped.dropped], [0, spooled.length, 0]);
    assert.ok(spooled.length >= 2, "what was in flight is in the spool");
    assert.ok(!(await readdir(spoolDir)).some((f) => f.endsWith(".tmp")), "no half-written spool file");

    // The second agent watches an empty scene: whatever reaches FRAMES comes from the spool.
    await nats.resume();
    const empty = path.join(dir, "empty-scene");
    await writeFrames(empty, [cameraFrame("noface/home.jpg")]);
    const second = spawnAgent(["--source", empty, "--loop", "true", "--fps", "5", "--spool-dir", spoolDir]);
    try {
      await waitFor(async () => (await spooledIds(spoolDir)).length === 0, "the restarted agent to replay the spool", 60_000);
    } finally {
      assert.equal(await second.terminate(), 0, second.output());
    }
    const resumed = second.stopped();
    assert.deepEqual([resumed.published, resumed.spooled, resumed.cropsSent], [spooled.length, 0, 0], "it sent the spool and nothing of its own");
    const messages = await drainFrames();
    assert.deepEqual(messages.map((m) => m.msgId), spooled, "every spooled frame, once, in spool order");
    assert.equal(cropsIn(messages), stopped.cropsSent, "every crop the first agent made, in flight at SIGTERM or not");
    const sequences = messages.map((m) => fromBinary(FrameMessageSchema, m.data).frame!.sequence);
    assert.deepEqual(sequences, [...sequences].sort((a, b) => Number(a - b)), "capture order");
  });

  it("on SIGTERM with NATS up the agent process publishes everything in flight and leaves the spool empty", async () => {
    const spoolDir = path.join(dir, "spool-4");
    const agent = spawnAgent(["--source", frames, "--loop", "true", "--fps", "20", "--spool-dir", spoolDir]);
    try {
      // A few loops in: people walking by, their tracks live when SIGTERM comes.
      await waitFor(async () => ((await bus.streamInfo(STREAMS.frames.name)).messages ?? 0) >= 4, "published messages", 60_000);
    } finally {
      assert.equal(await agent.terminate(), 0, agent.output());
    }
    const { published, spooled, cropsSent } = agent.stopped();
    assert.equal(spooled, 0);
    assert.deepEqual(await spooledIds(spoolDir), [], "nothing left in the spool");
    const messages = await drainFrames();
    assert.equal(messages.length, published, "every message the agent published is in FRAMES");
    assert.equal(new Set(messages.map((m) => m.msgId)).size, published, "each once");
    assert.equal(cropsIn(messages), cropsSent, "every crop made, including the last ones of tracks still live at SIGTERM");
  });
});
