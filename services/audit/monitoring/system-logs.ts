import { fromBinary } from "@bufbuild/protobuf";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { SystemLogEntrySchema } from "../../../gen/rollcall/audit/v1/bus_pb.js";
import { LogLevel } from "../../../gen/rollcall/audit/v1/types_pb.js";
import type { Bus, BusMessage, Consumer, MessageOutcome } from "../../runtime/bus/bus.js";
import { STREAMS } from "../../runtime/bus/streams.js";
import type { Database, Sql } from "../../runtime/db/index.js";
import type { Logger } from "../../runtime/logger.js";
import { storableObject, storableText } from "../ingest/sanitize.js";

export const LEVEL_NAMES: Record<number, string> = {
  [LogLevel.TRACE]: "TRACE", [LogLevel.DEBUG]: "DEBUG", [LogLevel.INFO]: "INFO",
  [LogLevel.WARN]: "WARN", [LogLevel.ERROR]: "ERROR", [LogLevel.FATAL]: "FATAL",
};

interface LogRow {
  level: string;
  service: string;
  instance: string;
  message: string;
  metadata: string;
  loggedAt: string;
}

/** LOGS stream (the services' forwarded warn/error lines) → system_logs, a batch per statement. */
export async function consumeSystemLogs(bus: Bus, db: Database, sql: Sql, logger: Logger): Promise<Consumer> {
  await bus.ensureStream(STREAMS.logs);
  const consumer = bus.consume({ stream: STREAMS.logs.name, durable: "audit-system-logs", batchSize: 200, maxDeliver: 100_000 }, async (messages) => {
    const rows: LogRow[] = [];
    const outcomes = messages.map((message): MessageOutcome => {
      const row = decode(message);
      if (row) rows.push(row);
      else logger.warn({ subject: message.subject, seq: message.seq }, "not a SystemLogEntry; terminated");
      return row ? "ack" : "reject";
    });
    if (rows.length > 0) {
      await db.withSystem((tx) =>
        sql.execute(
          tx,
          `INSERT INTO audit.system_logs (log_level, service_name, instance, message, metadata, created_at)
           SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::jsonb[], $6::timestamptz[])`,
          [rows.map((r) => r.level), rows.map((r) => r.service), rows.map((r) => r.instance), rows.map((r) => r.message), rows.map((r) => r.metadata), rows.map((r) => r.loggedAt)],
        ),
      );
    }
    return outcomes;
  });
  await consumer.ready;
  return consumer;
}

function decode(message: BusMessage): LogRow | undefined {
  try {
    const entry = fromBinary(SystemLogEntrySchema, message.data);
    const level = LEVEL_NAMES[entry.level];
    if (!level || !entry.service) return undefined;
    return {
      level,
      service: storableText(entry.service, 64),
      instance: storableText(entry.instance, 128),
      message: storableText(entry.message, 4096),
      metadata: JSON.stringify(storableObject(entry.metadata, 16 * 1024)),
      loggedAt: (entry.loggedAt ? timestampDate(entry.loggedAt) : message.receivedAt).toISOString(),
    };
  } catch {
    return undefined;
  }
}
