import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer, connect, type AddressInfo, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { DeviceDirection, DeviceService } from "../../gen/rollcall/identity/v1/device_pb.js";
import { createClient } from "../../services/runtime/grpc/client.js";
import { ConfigError } from "../../services/runtime/config.js";
import { createLogger } from "../../services/runtime/logger.js";
import { Agent } from "../../agent/src/agent.js";
import { loadAgentConfig } from "../../agent/src/config.js";
import { GrpcLink } from "../../agent/src/transport/grpc-link.js";
import { startTestMesh, type TestMesh } from "../vision/mesh.js";
import { photo } from "../vision/support.js";
import { cameraFrame, MODELS_DIR, walkBy, writeFrames } from "./support/frames.js";
import { waitFor } from "./support/nats-server.js";

const logger = createLogger(process.env.LOG_LEVEL ?? "silent");

function sample(exposition: string, name: string): number {
  return exposition
    .split("\n")
    .filter((line) => line.startsWith(`${name}{`) || line.startsWith(`${name} `))
    .reduce((sum, line) => sum + Number(line.split(" ").at(-1)), 0);
}

/** A TCP relay in front of the mesh's gRPC port: stopping it is vision going away for the agent. */
class Relay {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();

  private constructor(private readonly targetPort: number, public port = 0) {}

  static async start(targetPort: number): Promise<Relay> {
    const relay = new Relay(targetPort);
    await relay.resume();
    return relay;
  }

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  async resume(): Promise<void> {
    const server = createServer((client) => {
      const upstream = connect(this.targetPort, "127.0.0.1");
      for (const socket of [client, upstream]) {
        this.sockets.add(socket);
        socket.once("close", () => this.sockets.delete(socket));
        socket.on("error", () => (client.destroy(), upstream.destroy()));
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve) => server.listen(this.port, "127.0.0.1", resolve));
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const socket of this.sockets) socket.destroy();
    await new Promise((resolve) => server?.close(resolve) ?? resolve(undefined));
  }
}

describe("agent config: --transport grpc", () => {
  it("needs --vision-addr as host:port, and no valid NATS URL", () => {
    const env = { ROLLCALL_DEVICE_ID: "7d3f4a52-1a8e-4c7b-9f8e-3b1f0c2d4e5a", ROLLCALL_DEVICE_SECRET: "s3cret", NATS_URL: "not-used" };
    const config = loadAgentConfig({ source: "0", transport: "grpc", visionAddr: "127.0.0.1:50051" }, env);
    assert.deepEqual([config.transport.kind, config.transport.visionAddress], ["grpc", "127.0.0.1:50051"]);
    assert.throws(() => loadAgentConfig({ source: "0", transport: "grpc" }, env), (err: ConfigError) => err.problems.some((p) => p.includes("--vision-addr (ROLLCALL_VISION_ADDR) is required")));
    assert.throws(() => loadAgentConfig({ source: "0" }, { ...env, ROLLCALL_AGENT_TRANSPORT: "grpc", ROLLCALL_VISION_ADDR: "http://vision" }), /--vision-addr \(ROLLCALL_VISION_ADDR\)="http:\/\/vision" must be host:port/);
    assert.throws(() => loadAgentConfig({ source: "0", transport: "http" }, env), /--transport \(ROLLCALL_AGENT_TRANSPORT\)="http" must be one of nats, grpc/);
  });
});

describe("agent over gRPC StreamFrames: the whole mesh in-process, vision outage", function () {
  this.timeout(240_000);
  let mesh: TestMesh;
  let relay: Relay;
  let dir: string;
  let frames: string;
  let device: { id: string; secret: string };

  before(async () => {
    mesh = await startTestMesh();
    const target = `127.0.0.1:${mesh.host.grpcPort}`;
    const devices = createClient(DeviceService, target, { bearer: () => mesh.tokens.admin });
    const registered = await devices.registerDevice({ name: "gRPC door", direction: DeviceDirection.IN });
    devices.close();
    device = { id: registered.device!.id, secret: registered.secret };
    const enrolled = await mesh.vision.enrol({ userId: mesh.users.member, photos: [{ filename: "img1.jpg", content: await photo("identities/img1.jpg") }] }, { bearer: mesh.tokens.admin });
    assert.equal(enrolled.results[0]!.accepted, true, enrolled.results[0]!.detail);
    relay = await Relay.start(mesh.host.grpcPort);
    dir = await mkdtemp(path.join(tmpdir(), "agent-grpc-"));
    frames = path.join(dir, "frames");
    // The enrolled member (another photo of them), an empty doorway, then someone never enrolled.
    await writeFrames(frames, [...walkBy("identities/img2.jpg", 8), cameraFrame("noface/home.jpg"), cameraFrame("noface/home.jpg"), ...walkBy("identities/img8.jpg", 8), cameraFrame("noface/home.jpg")]);
  });
  after(async () => {
    await relay?.stop();
    await mesh?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const start = (spoolDir: string) =>
    Agent.start(
      loadAgentConfig(
        // Vision recognises each frame before answering: allow for a busy machine.
        { source: frames, realtime: "false", modelsDir: MODELS_DIR, transport: "grpc", visionAddr: relay.address, identity: `127.0.0.1:${mesh.host.grpcPort}`, metricsPort: "0", retry: "200", publishTimeout: "15000", trackMinHits: "2", spoolDir },
        { ROLLCALL_DEVICE_ID: device.id, ROLLCALL_DEVICE_SECRET: device.secret },
      ),
      { logger },
    );

  it("streams crops to vision with the device token and gets recognitions back for every frame", async () => {
    const agent = await start(path.join(dir, "spool-1"));
    try {
      await agent.done;
      await agent.outbox.drained(90_000);
      const metrics = await (await fetch(`http://127.0.0.1:${agent.metricsPort}/metrics`)).text();
      const { answers } = agent.link as GrpcLink;
      const sent = sample(metrics, "rollcall_agent_crops_sent_total");
      assert.ok(sent >= 2, `two people → at least two messages, got ${sent}`);
      assert.equal(sample(metrics, "rollcall_agent_messages_published_total"), sent);
      assert.equal(answers.processed + answers.duplicate, sent, `vision answered every message: ${JSON.stringify(answers)}`);
      assert.ok(answers.matched >= 1, `the enrolled member is recognised: ${JSON.stringify(answers)}`);
      assert.ok(answers.unknown >= 1, `the stranger is unknown: ${JSON.stringify(answers)}`);
      assert.equal(sample(metrics, "rollcall_agent_connected"), 1);
      const vision = await (await fetch(`http://127.0.0.1:${mesh.host.adminPort}/metrics`)).text();
      assert.match(vision, new RegExp(`^vision_frames_total\\{outcome="processed"\\} ${answers.processed}$`, "m"));
    } finally {
      await agent.stop();
    }
  });

  it("spools while vision is away without stalling capture, and replays everything once it is back", async () => {
    await relay.stop();
    const agent = await start(path.join(dir, "spool-2"));
    try {
      await agent.done;
      await waitFor(() => agent.spool.size >= 2 && agent.outbox.pending === 0, "messages in the spool");
      const spooled = agent.spool.size;
      const offline = await (await fetch(`http://127.0.0.1:${agent.metricsPort}/metrics`)).text();
      assert.equal(sample(offline, "rollcall_agent_frames_captured_total"), 19, "capture went on while vision was away");
      assert.equal(sample(offline, "rollcall_agent_connected"), 0);
      assert.equal(sample(offline, "rollcall_agent_spool_messages"), spooled);

      await relay.resume();
      await agent.outbox.drained(90_000);
      const { answers } = agent.link as GrpcLink;
      assert.equal(answers.processed + answers.duplicate, spooled, `every spooled message answered: ${JSON.stringify(answers)}`);
      assert.ok(answers.processed >= 1 && answers.matched >= 1, `replayed frames are recognised: ${JSON.stringify(answers)}`);
      assert.equal(agent.outbox.isOnline, true);
    } finally {
      await agent.stop();
    }
  });
});
