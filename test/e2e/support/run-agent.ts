import { fromBinary } from "@bufbuild/protobuf";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { AttendanceService, type AttendanceLog } from "../../../gen/rollcall/attendance/v1/attendance_pb.js";
import { RecognitionEventSchema, type RecognitionEvent } from "../../../gen/rollcall/vision/v1/bus_pb.js";
import { createBus, type BusMessage } from "../../../services/runtime/bus/bus.js";
import { STREAMS } from "../../../services/runtime/bus/streams.js";
import { createLogger } from "../../../services/runtime/logger.js";
import { Agent } from "../../../agent/src/agent.js";
import { loadAgentConfig } from "../../../agent/src/config.js";
import { MODELS_DIR } from "../../agent/support/frames.js";
import type { E2eMesh } from "./mesh.js";
import type { Camera, Tenant } from "./tenant.js";
import { eventually as poll } from "../../support/eventually.js";

export const logger = createLogger(process.env.LOG_LEVEL ?? "silent");

/** An agent for one camera of the tenant, on the mesh's NATS and identity. */
export function startAgent(mesh: E2eMesh, camera: Camera, frames: string, spoolDir: string, extra: Record<string, string> = {}): Promise<Agent> {
  const config = loadAgentConfig(
    // A camera's pace: 10 fps, and a track ends 0.4 s after its face was last seen, so the next person is a new track.
    { source: frames, realtime: "true", fps: "10", trackIdle: "400", modelsDir: MODELS_DIR, nats: mesh.nats.url, namespace: mesh.namespace, identity: mesh.core.target, metricsPort: "0", spoolDir, retry: "200", publishTimeout: "1000", heartbeat: "2000", ...extra },
    { ROLLCALL_DEVICE_ID: camera.id, ROLLCALL_DEVICE_SECRET: camera.secret },
  );
  return Agent.start(config, { logger });
}

export async function scrape(port: number): Promise<string> {
  return (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
}

/** Sums a metric's samples (optionally those whose labels contain `labels`) in a Prometheus exposition. */
export function sample(exposition: string, name: string, labels = ""): number {
  return exposition
    .split("\n")
    .filter((line) => (line.startsWith(`${name}{`) || line.startsWith(`${name} `)) && line.includes(labels))
    .reduce((sum, line) => sum + Number(line.split(" ").at(-1)), 0);
}

/** Every RecognitionEvent vision published so far, read from the RECOGNITIONS stream by a fresh consumer. */
export async function recognitions(mesh: E2eMesh, organizationId: string): Promise<RecognitionEvent[]> {
  const bus = await createBus({ url: mesh.nats.url, namespace: mesh.namespace, logger });
  try {
    const info = await bus.streamInfo(STREAMS.recognitions.name);
    const seen: BusMessage[] = [];
    if (info.messages > 0) {
      const consumer = bus.consume({ stream: STREAMS.recognitions.name, durable: `e2e-read-${Date.now()}`, filterSubject: `recognitions.${organizationId}` }, async (batch) => void seen.push(...batch));
      const deadline = Date.now() + 10_000;
      let last = -1;
      // Drained when nothing new arrives for a moment (the filter may match fewer than info.messages).
      while (Date.now() < deadline && seen.length !== last) {
        last = seen.length;
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
      await consumer.stop();
    }
    return seen.map((m) => fromBinary(RecognitionEventSchema, m.data));
  } finally {
    await bus.close();
  }
}

export interface Today {
  firstIn?: Date;
  lastOut?: Date;
  currentlyIn: boolean;
  events: AttendanceLog[];
}

export async function today(mesh: E2eMesh, tenant: Tenant, userId: string): Promise<Today> {
  const answer = await mesh.client(AttendanceService, mesh.attendance.target, tenant.adminToken).getToday({ userId });
  return {
    firstIn: answer.firstInTime ? timestampDate(answer.firstInTime) : undefined,
    lastOut: answer.lastOutTime ? timestampDate(answer.lastOutTime) : undefined,
    currentlyIn: answer.currentlyIn,
    events: answer.events,
  };
}

/** The e2e waits longer: its mesh runs as separate processes. */
export const eventually = <T>(check: () => Promise<T | undefined>, what: string, timeoutMs = 60_000) => poll(check, what, timeoutMs, 250);
