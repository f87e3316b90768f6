import { createHash } from "node:crypto";
import { fromBinary } from "@bufbuild/protobuf";
import { HeartbeatSchema } from "../../../gen/rollcall/audit/v1/bus_pb.js";
import { HealthStatus } from "../../../gen/rollcall/audit/v1/types_pb.js";
import type { Bus, BusMessage, Consumer, MessageOutcome } from "../../runtime/bus/bus.js";
import type { Signal } from "../../runtime/bus/consumer-loop.js";
import { STREAMS } from "../../runtime/bus/streams.js";
import type { Database, Sql } from "../../runtime/db/index.js";
import { EventPublisher, Severity } from "../../runtime/event-publisher.js";
import type { Logger } from "../../runtime/logger.js";
import type { JsonValue } from "../chain/canonical.js";
import type { EventStore } from "../events/event-store.js";
import { storableObject, storableText } from "../ingest/sanitize.js";

export const HEALTH_NAMES: Record<number, string> = { [HealthStatus.UP]: "UP", [HealthStatus.DEGRADED]: "DEGRADED", [HealthStatus.DOWN]: "DOWN" };
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

interface Beat {
  component: string;
  instance: string;
  status: string;
  cpu: number;
  memory: string;
  metadata: string;
  /** When the HEALTH stream stored it: one clock for every sender, and stable on redelivery. */
  at: string;
}

/** HEALTH stream → system_health (history) and component_status (latest per instance). */
export async function consumeHeartbeats(bus: Bus, db: Database, sql: Sql, logger: Logger): Promise<Consumer> {
  await bus.ensureStream(STREAMS.health);
  const consumer = bus.consume({ stream: STREAMS.health.name, durable: "audit-health", batchSize: 200, maxDeliver: 100_000 }, async (messages) => {
    const beats: Beat[] = [];
    const outcomes = messages.map((message): MessageOutcome => {
      const beat = decode(message);
      if (beat) beats.push(beat);
      else logger.warn({ subject: message.subject, seq: message.seq }, "not a valid Heartbeat; terminated");
      return beat ? "ack" : "reject";
    });
    if (beats.length > 0) await db.withSystem((tx) => store(sql, tx, beats));
    return outcomes;
  });
  await consumer.ready;
  return consumer;
}

async function store(sql: Sql, tx: Parameters<Sql["execute"]>[0], beats: Beat[]): Promise<void> {
  const cols = [beats.map((b) => b.component), beats.map((b) => b.instance), beats.map((b) => b.status), beats.map((b) => b.cpu), beats.map((b) => b.memory), beats.map((b) => b.metadata), beats.map((b) => b.at)];
  const unnest = `unnest($1::text[], $2::text[], $3::text[], $4::float8[], $5::bigint[], $6::jsonb[], $7::timestamptz[]) AS b (component, instance, status, cpu, memory, metadata, at)`;
  await sql.execute(tx, `INSERT INTO audit.system_health (component, instance, status, cpu_usage, memory_usage, metadata, recorded_at) SELECT * FROM ${unnest}`, cols);
  // Latest per instance; an older heartbeat redelivered late never overwrites a newer one.
  await sql.execute(
    tx,
    `INSERT INTO audit.component_status AS c (component, instance, status, cpu_usage, memory_usage, metadata, last_heartbeat)
     SELECT DISTINCT ON (component, instance) * FROM ${unnest} ORDER BY component, instance, at DESC
     ON CONFLICT (component, instance) DO UPDATE SET status = EXCLUDED.status, cpu_usage = EXCLUDED.cpu_usage,
       memory_usage = EXCLUDED.memory_usage, metadata = EXCLUDED.metadata, last_heartbeat = EXCLUDED.last_heartbeat,
       down_since = CASE WHEN EXCLUDED.status = 'DOWN' THEN COALESCE(c.down_since, EXCLUDED.last_heartbeat) END
     WHERE c.last_heartbeat <= EXCLUDED.last_heartbeat`,
    cols,
  );
}

function decode(message: BusMessage): Beat | undefined {
  try {
    const beat = fromBinary(HeartbeatSchema, message.data);
    const status = HEALTH_NAMES[beat.status];
    if (!status || !beat.component || !beat.instance) return undefined;
    return {
      component: storableText(beat.component, 128),
      instance: storableText(beat.instance, 128),
      status,
      cpu: Number.isFinite(beat.cpuUsage) ? beat.cpuUsage : 0,
      memory: beat.memoryUsage.toString(),
      metadata: JSON.stringify(storableObject(beat.metadata, 16 * 1024)),
      at: message.receivedAt.toISOString(),
    };
  } catch {
    return undefined;
  }
}

/**
 * Marks components whose heartbeat is overdue DOWN and raises SERVICE_DOWN / DEVICE_DOWN, in one
 * transaction. Safe with several audit replicas running it: the conditional UPDATE hands each
 * overdue row to exactly one of them, and the event id is derived from the missed heartbeat, so
 * even a retry stores (and notifies) it once.
 */
export class DownDetector {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> = Promise.resolve();
  private readonly publisher: EventPublisher;

  constructor(
    private readonly deps: { db: Database; sql: Sql; events: EventStore; bus: Bus; logger: Logger; stored: Signal },
    private readonly overdueMs: number,
  ) {
    this.publisher = new EventPublisher(deps.bus, deps.logger);
  }

  start(everyMs: number): void {
    this.timer = setInterval(() => {
      this.running = this.running.then(async () => void (await this.check())).catch((err) => this.deps.logger.warn({ err }, "health check failed; retrying next interval"));
    }, everyMs);
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }

  async check(): Promise<number> {
    const { db, sql, events } = this.deps;
    const raised = await db.withSystem(async (tx) => {
      const down = await sql.rows<{ component: string; instance: string; last_heartbeat: Date; metadata: { [key: string]: JsonValue } }>(
        tx,
        `UPDATE audit.component_status SET status = 'DOWN', down_since = now()
         WHERE status <> 'DOWN' AND last_heartbeat < now() - make_interval(secs => $1::float8 / 1000)
         RETURNING component, instance, last_heartbeat, metadata`,
        [this.overdueMs],
      );
      const out = [];
      for (const row of down) {
        await sql.execute(tx, `INSERT INTO audit.system_health (component, instance, status, metadata, recorded_at) VALUES ($1, $2, 'DOWN', $3, now())`, [row.component, row.instance, JSON.stringify({ reason: "heartbeat overdue", lastHeartbeat: row.last_heartbeat.toISOString() })]);
        const isDevice = row.component.startsWith("device:");
        const org = typeof row.metadata.organization_id === "string" && UUID.test(row.metadata.organization_id) ? row.metadata.organization_id : null;
        const event = {
          id: nameUuid(`${row.component}\u0000${row.instance}\u0000${row.last_heartbeat.toISOString()}`),
          organizationId: org,
          type: isDevice ? "DEVICE_DOWN" : "SERVICE_DOWN",
          severity: "ERROR",
          referenceId: isDevice ? row.component.slice("device:".length) : row.component,
          metadata: { component: row.component, instance: row.instance, lastHeartbeat: row.last_heartbeat.toISOString() },
          occurredAt: new Date(),
        };
        await events.record(tx, event);
        out.push(event);
      }
      return out;
    });
    if (raised.length > 0) this.deps.stored.notify();
    for (const event of raised) {
      // For other listeners of EVENTS; audit's own consumer sees the id again and skips it.
      await this.publisher.publish({ organizationId: event.organizationId ?? undefined, type: event.type, severity: Severity.ERROR, referenceId: event.referenceId, metadata: event.metadata, eventId: event.id });
    }
    return raised.length;
  }
}

/** A UUID (version 5 layout over SHA-1) named by the text: the same text, the same id. */
function nameUuid(text: string): string {
  const bytes = createHash("sha1").update(`rollcall.audit/${text}`).digest().subarray(0, 16);
  bytes[6] = (bytes[6]! & 0x0f) | 0x50;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  const hex = bytes.toString("hex");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
