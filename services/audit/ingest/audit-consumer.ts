import type { Counter } from "prom-client";
import type { Bus, BusMessage, Consumer, MessageOutcome } from "../../runtime/bus/bus.js";
import { STREAMS } from "../../runtime/bus/streams.js";
import type { Logger } from "../../runtime/logger.js";
import type { ChainWriter } from "../chain/chain-writer.js";
import type { NewAuditRow } from "../chain/chain-writer.js";
import { decodeAuditEvent } from "./audit-decoder.js";

export interface IngestSettings {
  /** Messages per batch (one transaction, one multi-row INSERT). */
  batchSize: number;
  /** Consumers pulling in parallel in this process (same durable): one decodes while another writes. */
  parallel: number;
}

/**
 * AUDIT stream → audit_logs. A batch is acknowledged only after its transaction committed; if
 * the write fails the whole batch is redelivered, and the event-id claim makes that harmless.
 */
export async function consumeAuditEvents(bus: Bus, writer: ChainWriter, settings: IngestSettings, logger: Logger, counted: Counter<"result">): Promise<Consumer[]> {
  await bus.ensureStream(STREAMS.audit);
  const handler = async (messages: BusMessage[]): Promise<MessageOutcome[]> => {
    const rows: NewAuditRow[] = [];
    const outcomes = messages.map((message): MessageOutcome => {
      const decoded = decodeAuditEvent(message);
      if ("row" in decoded) {
        rows.push(decoded.row);
        return "ack";
      }
      logger.error({ subject: message.subject, seq: message.seq, problem: decoded.problem }, "audit event cannot be stored; terminated (it stays in the AUDIT stream)");
      counted.inc({ result: "rejected" });
      return "reject";
    });
    const { inserted, duplicates } = await writer.append(rows);
    counted.inc({ result: "stored" }, inserted);
    if (duplicates > 0) counted.inc({ result: "duplicate" }, duplicates);
    return outcomes;
  };
  // Room for this process's batches in flight, the next pulls, and those a crashed predecessor
  // held: until their ack wait ends the stream counts them as pending, and without that room a
  // restarted process would ingest one batch at a time while it catches up.
  const maxAckPending = settings.batchSize * (2 * settings.parallel + 1);
  const consumers = Array.from({ length: settings.parallel }, () =>
    bus.consume(
      { stream: STREAMS.audit.name, durable: "audit-log", batchSize: settings.batchSize, maxAckPending, ackWaitMs: 15_000, maxDeliver: 100_000, fillWaitMs: 50 },
      handler,
    ),
  );
  await Promise.all(consumers.map((consumer) => consumer.ready));
  return consumers;
}
