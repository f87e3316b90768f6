import type { Bus, Consumer, MessageOutcome } from "../../runtime/bus/bus.js";
import type { Signal } from "../../runtime/bus/consumer-loop.js";
import { STREAMS } from "../../runtime/bus/streams.js";
import type { Database } from "../../runtime/db/index.js";
import type { Logger } from "../../runtime/logger.js";
import { decodePlatformEvent } from "./event-decoder.js";
import type { EventStore, NewEvent } from "./event-store.js";

/**
 * EVENTS stream → events (+ their notifications), a batch per transaction, acknowledged after
 * commit. `stored` wakes the live subscriptions and the notification dispatcher of this replica.
 */
export async function consumeEvents(bus: Bus, db: Database, store: EventStore, stored: Signal, logger: Logger): Promise<Consumer> {
  await bus.ensureStream(STREAMS.events);
  const consumer = bus.consume({ stream: STREAMS.events.name, durable: "audit-events", batchSize: 100, maxDeliver: 100_000 }, async (messages) => {
    const events: NewEvent[] = [];
    const outcomes = messages.map((message): MessageOutcome => {
      const decoded = decodePlatformEvent(message);
      if ("event" in decoded) {
        events.push(decoded.event);
        return "ack";
      }
      logger.error({ subject: message.subject, seq: message.seq, problem: decoded.problem }, "platform event cannot be stored; terminated");
      return "reject";
    });
    let fresh = 0;
    if (events.length > 0) {
      await db.withSystem(async (tx) => {
        for (const event of events) if (await store.record(tx, event)) fresh++;
      });
    }
    if (fresh > 0) stored.notify();
    return outcomes;
  });
  await consumer.ready;
  return consumer;
}
