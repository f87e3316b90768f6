import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { createLocalJWKSet, type JSONWebKeySet } from "jose";
import { createBus, type Bus, type BusMessage } from "../../services/runtime/bus/bus.js";
import { STREAMS } from "../../services/runtime/bus/streams.js";
import { TokenVerifier } from "../../services/runtime/auth/token-verifier.js";
import { createLogger } from "../../services/runtime/logger.js";
import { Agent } from "../../agent/src/agent.js";
import { loadAgentConfig } from "../../agent/src/config.js";
import { cameraFrame, MODELS_DIR, walkBy, writeFrames } from "./support/frames.js";
import { startGatewayInFront, type GatewayInFront } from "./support/gateway.js";
import { OwnNatsServer, waitFor } from "./support/nats-server.js";

const logger = createLogger(process.env.LOG_LEVEL ?? "silent");
const NAMESPACE = `agentgw${process.pid}`;

describe("agent with --gateway-url: its device token through the public gateway, frames to NATS", function () {
  // Identity on embedded Postgres, a nats-server and OpenCV's frames take minutes on a busy machine.
  this.timeout(240_000);
  let env: GatewayInFront;
  let nats: OwnNatsServer;
  let bus: Bus;
  let dir: string;
  let frames: string;
  let device: { id: string; secret: string };

  before(async () => {
    [env, nats] = await Promise.all([startGatewayInFront(), OwnNatsServer.start()]);
    device = await env.registerDevice("Gateway agent door");
    bus = await createBus({ url: nats.url, namespace: NAMESPACE, logger });
    await bus.ensureStream(STREAMS.frames);
    await bus.ensureStream(STREAMS.health);
    dir = await mkdtemp(path.join(tmpdir(), "agent-gateway-"));
    frames = path.join(dir, "frames");
    await writeFrames(frames, [...walkBy("identities/img2.jpg", 6), cameraFrame("noface/home.jpg")]);
  });
  after(async () => {
    await bus?.close();
    await nats?.stop();
    await env?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("publishes crops carrying identity's device token, which it got from the gateway alone", async () => {
    // No identity address anywhere: the gateway is the only way to a token.
    const config = loadAgentConfig(
      { source: frames, realtime: "false", modelsDir: MODELS_DIR, nats: nats.url, namespace: NAMESPACE, gatewayUrl: env.url, identity: "127.0.0.1:1", metricsPort: "0", retry: "100", publishTimeout: "2000", trackMinHits: "2", spoolDir: path.join(dir, "spool-1") },
      { ROLLCALL_DEVICE_ID: device.id, ROLLCALL_DEVICE_SECRET: device.secret },
    );
    assert.deepEqual(config.device.tokens, { via: "gateway", url: env.url });
    const agent = await Agent.start(config, { logger });
    await agent.done;
    await agent.outbox.drained(20_000);
    await agent.stop();

    const info = await bus.streamInfo(STREAMS.frames.name);
    assert.ok(info.messages >= 1, "the person walking by was sent");
    const seen: BusMessage[] = [];
    const consumer = bus.consume({ stream: STREAMS.frames.name, durable: "agent-gateway-test" }, async (batch) => void seen.push(...batch));
    await waitFor(() => seen.length >= info.messages, "the FRAMES messages");
    await consumer.stop();
    const jwks = (await (await fetch(`http://127.0.0.1:${env.mesh.host.adminPort}/.well-known/jwks.json`)).json()) as JSONWebKeySet;
    const verifier = new TokenVerifier({ issuer: "rollcall", audience: "rollcall", keys: createLocalJWKSet(jwks) });
    for (const message of seen) {
      const caller = await verifier.verify(message.headers.authorization!.replace(/^Bearer /, ""));
      assert.deepEqual([caller.kind, caller.subject], ["device", device.id]);
      assert.equal(message.subject, `frames.${caller.organizationId}.${device.id}`);
    }
  });

  it("does not start when the gateway refuses the secret, and says what to fix", async () => {
    const child = spawn(process.execPath, ["--import", "tsx", "agent/bin/rollcall-agent.ts", "--source", frames, "--models", MODELS_DIR, "--nats", nats.url, "--gateway-url", env.url, "--metrics-port", "0", "--spool-dir", path.join(dir, "spool-refused")], {
      cwd: path.resolve(import.meta.dirname, "../.."),
      env: { ...process.env, ROLLCALL_DEVICE_ID: device.id, ROLLCALL_DEVICE_SECRET: "an-old-secret", LOG_LEVEL: "silent" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stderr = "";
    child.stderr!.on("data", (chunk) => (stderr += chunk));
    const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
    assert.equal(code, 5, `exit 5 (not authenticated): ${stderr}`);
    assert.match(stderr, /^rollcall agent: cannot start: the gateway at http:\/\/127\.0\.0\.1:\d+ refused the device id or secret: device id or secret is not correct\. Check ROLLCALL_DEVICE_ID and ROLLCALL_DEVICE_SECRET/m);
    assert.doesNotMatch(stderr, /at .*\.ts:\d+/, "a message, not a stack trace");
  });
});
