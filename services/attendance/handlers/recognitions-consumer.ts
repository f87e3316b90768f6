import { status } from "@grpc/grpc-js";
import { fromBinary } from "@bufbuild/protobuf";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { RecognitionEventSchema } from "../../../gen/rollcall/vision/v1/bus_pb.js";
import type { Bus, BusMessage, Consumer, MessageOutcome } from "../../runtime/bus/bus.js";
import { STREAMS } from "../../runtime/bus/streams.js";
import { AppError } from "../../runtime/errors.js";
import type { Logger } from "../../runtime/logger.js";
import { confidencePercent } from "../domain/day.js";
import type { Days, IngestOutcome, Recognition } from "../domain/days.js";

export const RECOGNITIONS_DURABLE = "attendance-recognitions";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export type RecognitionOutcome = IngestOutcome | "unknown_face" | "malformed" | "unknown_organization" | "failed";

export interface RecognitionsConsumerOptions {
  batchSize: number;
  /** Counts what became of each message. */
  onOutcome?: (outcome: RecognitionOutcome, count: number) => void;
}

/**
 * The RECOGNITIONS stream (`recognitions.{org}`) into attendance, one durable consumer shared by
 * every replica. A batch is written per organisation in one transaction and acknowledged only
 * after it committed; a failure (database or identity unreachable) redelivers the batch, and the
 * unique event id makes the second delivery a no-op for what the first one stored. Retries are
 * generous (maxDeliver 1000, backoff up to a minute) because a terminated message is a lost
 * sighting.
 */
export async function consumeRecognitions(bus: Bus, days: Days, logger: Logger, options: RecognitionsConsumerOptions): Promise<Consumer> {
  const count = options.onOutcome ?? (() => {});
  await bus.ensureStream(STREAMS.recognitions);
  const consumer = bus.consume(
    {
      stream: STREAMS.recognitions.name,
      durable: RECOGNITIONS_DURABLE,
      filterSubject: "recognitions.>",
      batchSize: options.batchSize,
      maxAckPending: Math.max(1_000, options.batchSize * 4),
      maxDeliver: 1_000,
      ackWaitMs: 30_000,
      retryDelayMs: 1_000,
    },
    (messages) => handleBatch(messages),
  );
  await consumer.ready;
  return consumer;

  async function handleBatch(messages: BusMessage[]): Promise<MessageOutcome[]> {
    const outcomes: MessageOutcome[] = messages.map(() => "ack");
    const byOrganization = new Map<string, { index: number; recognition: Recognition }[]>();
    messages.forEach((message, index) => {
      const parsed = parse(message);
      if (typeof parsed === "string") {
        count(parsed, 1);
        if (parsed === "malformed") outcomes[index] = "reject";
        return;
      }
      const list = byOrganization.get(parsed.organizationId) ?? [];
      list.push({ index, recognition: parsed.recognition });
      byOrganization.set(parsed.organizationId, list);
    });
    for (const [organizationId, items] of byOrganization) {
      try {
        const result = await days.ingest(organizationId, items.map((i) => i.recognition));
        for (const item of items) {
          const outcome = result.get(item.recognition.eventId) ?? "duplicate";
          count(outcome, 1);
          if (outcome === "unknown_device") {
            logger.warn({ organizationId, deviceId: item.recognition.deviceId, eventId: item.recognition.eventId }, "recognition from a device identity does not know in this organisation; dropped");
          }
        }
      } catch (err) {
        const gone = err instanceof AppError && err.code === status.NOT_FOUND;
        count(gone ? "unknown_organization" : "failed", items.length);
        if (gone) logger.warn({ organizationId, messages: items.length }, "recognitions of an unknown organisation; dropped");
        else logger.warn({ err, organizationId, messages: items.length }, "could not store recognitions; they will be redelivered");
        for (const item of items) outcomes[item.index] = gone ? "reject" : "retry";
      }
    }
    return outcomes;
  }

  function parse(message: BusMessage): { organizationId: string; recognition: Recognition } | "malformed" | "unknown_face" {
    let event;
    try {
      event = fromBinary(RecognitionEventSchema, message.data);
    } catch {
      logger.warn({ subject: message.subject, seq: message.seq }, "message is not a RecognitionEvent; rejected");
      return "malformed";
    }
    const subjectOrg = message.subject.split(".")[1];
    if (event.organizationId !== subjectOrg || !UUID.test(event.eventId) || !UUID.test(event.deviceId) || !event.captureTime) {
      logger.warn({ subject: message.subject, eventId: event.eventId }, "recognition with a wrong organisation, event id, device or capture time; rejected");
      return "malformed";
    }
    if (event.unknown || !event.userId) return "unknown_face";
    if (!UUID.test(event.userId)) return "malformed";
    return {
      organizationId: event.organizationId.toLowerCase(),
      recognition: {
        eventId: event.eventId.toLowerCase(),
        userId: event.userId.toLowerCase(),
        deviceId: event.deviceId.toLowerCase(),
        time: timestampDate(event.captureTime),
        confidence: confidencePercent(event.similarity),
      },
    };
  }
}
