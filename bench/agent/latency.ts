import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { AttendanceService } from "../../gen/rollcall/attendance/v1/attendance_pb.js";
import { createDetector } from "../../agent/src/pipeline/detector.js";
import { FramePipeline } from "../../agent/src/pipeline/pipeline.js";
import { AgentMetrics } from "../../agent/src/health/metrics.js";
import { DeviceTokens } from "../../agent/src/transport/device-token.js";
import { IdentityTokenIssuer } from "../../agent/src/transport/identity-token-issuer.js";
import { FrameMessages } from "../../agent/src/transport/frame-messages.js";
import { NatsLink } from "../../agent/src/transport/nats-link.js";
import { Outbox } from "../../agent/src/transport/outbox.js";
import { Spool } from "../../agent/src/transport/spool.js";
import { cameraFrame, MODELS_DIR } from "../../test/agent/support/frames.js";
import { startE2eMesh } from "../../test/e2e/support/mesh.js";
import { createTenant } from "../../test/e2e/support/tenant.js";
import { logger } from "../../test/e2e/support/run-agent.js";

export interface Latency {
  trials: number;
  p50: number;
  p95: number;
  max: number;
  bus: string;
}

/**
 * Frame → attendance visible: a frame goes through the agent's pipeline (detect, crop) and
 * transport (NATS, device token), vision recognises it, attendance records it, and GetToday
 * (polled every 5 ms) shows the new event. The mesh runs as separate processes (identity + authz
 * + audit, vision, attendance) on real Postgres and Redis and a NATS of its own; debounce off so
 * every sighting is an event.
 */
export async function measureLatency(trials: number): Promise<Latency> {
  if (!process.env.DATABASE_URL || !process.env.REDIS_URL) throw new Error("the latency part needs DATABASE_URL and REDIS_URL (or pass --skip-latency)");
  const mesh = await startE2eMesh({ LOG_LEVEL: "silent" });
  const dir = await mkdtemp(path.join(tmpdir(), "agent-latency-"));
  try {
    const tenant = await createTenant(mesh, { alice: ["img1.jpg", "img4.jpg"] }, { "attendance.debounce_seconds": 0, "attendance.min_confidence": 0 });
    const camera = tenant.cameras.in;
    const tokens = new DeviceTokens(camera.id, camera.secret, new IdentityTokenIssuer(mesh.core.target, 3_000));
    const link = new NatsLink(tokens, { url: mesh.nats.url, namespace: mesh.namespace, timeoutMs: 3_000, logger });
    const outbox = new Outbox(await Spool.open(path.join(dir, "spool"), 64 * 1024 * 1024), link, { memoryQueue: 64, retryMs: 200, logger });
    const messages = new FrameMessages(tenant.id, camera.id);
    const detector = await createDetector("onnxruntime", MODELS_DIR, 1);
    const attendance = mesh.client(AttendanceService, mesh.attendance.target, tenant.adminToken);
    const frame = cameraFrame("identities/img2.jpg");
    const latencies: number[] = [];
    let seen = (await attendance.getToday({ userId: tenant.people.alice! })).events.length;
    for (let i = 0; i < trials + 3; i++) {
      const pipeline = new FramePipeline(detector, {
        maxWidth: 1280,
        motion: { enabled: false, width: 160, pixelThreshold: 25, minAreaFraction: 0, keyframeMs: 0 },
        detector: { backend: "onnxruntime", modelsDir: MODELS_DIR, minScore: 0.7, threads: 1 },
        tracker: { minIou: 0.3, maxMissedFrames: 5, maxIdleMs: 3_000, minHits: 1 },
        crops: { perTrack: 1, resendAfterMs: 0, minImprovement: 0, margin: 0.4, maxSide: 320, jpegQuality: 90, fullFrames: false },
      }, new AgentMetrics(camera.id), (item) => item.kind === "crops" && outbox.enqueue(messages.crops(item.captureTime, item.crops)));
      const captured = Date.now();
      await pipeline.process(frame, new Date(captured));
      const deadline = captured + 10_000;
      for (;;) {
        const events = (await attendance.getToday({ userId: tenant.people.alice! })).events.length;
        if (events > seen) {
          seen = events;
          // The first few warm up connections, caches and JIT.
          if (i >= 3) latencies.push(Date.now() - captured);
          break;
        }
        if (Date.now() > deadline) throw new Error(`trial ${i}: no attendance event within 10 s`);
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await outbox.close(1_000);
    await link.close();
    tokens.close();
    latencies.sort((a, b) => a - b);
    const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]!;
    return { trials: latencies.length, p50: at(0.5), p95: at(0.95), max: latencies.at(-1)!, bus: "NATS JetStream (own nats-server), Postgres, Redis" };
  } finally {
    await mesh.stop();
    await rm(dir, { recursive: true, force: true });
  }
}
