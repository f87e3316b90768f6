import { fromBinary } from "@bufbuild/protobuf";
import { PlatformEventSchema } from "../../gen/rollcall/audit/v1/bus_pb.js";
import type { Bus, Consumer, MessageOutcome } from "./bus/bus.js";
import { STREAMS } from "./bus/streams.js";
import type { Logger } from "./logger.js";

export const ORGANIZATION_DELETED = "ORGANIZATION_DELETED";

/**
 * Identity announces a tenant's hard deletion as an ORGANIZATION_DELETED event on the EVENTS
 * stream before removing its own rows; every service that keeps tenant data follows it with its
 * own durable consumer (`<service>-organization-deletions`) and removes what it holds. The
 * handler must be idempotent: a failure is redelivered, and so is a deletion interrupted by a
 * crash.
 */
export async function followOrganizationDeletions(
  bus: Bus,
  service: string,
  logger: Logger,
  removeTenant: (organizationId: string) => Promise<void>,
): Promise<Consumer> {
  await bus.ensureStream(STREAMS.events);
  const consumer = bus.consume(
    { stream: STREAMS.events.name, durable: `${service}-organization-deletions`, filterSubject: "events.>", batchSize: 16, maxDeliver: 10, ackWaitMs: 120_000 },
    async (messages) => {
      const outcomes: MessageOutcome[] = [];
      for (const message of messages) {
        let event;
        try {
          event = fromBinary(PlatformEventSchema, message.data);
        } catch {
          outcomes.push("ack");
          continue;
        }
        if (event.type !== ORGANIZATION_DELETED || !event.organizationId) {
          outcomes.push("ack");
          continue;
        }
        try {
          await removeTenant(event.organizationId);
          logger.info({ organizationId: event.organizationId }, "removed a deleted organisation's data");
          outcomes.push("ack");
        } catch (err) {
          logger.error({ err, organizationId: event.organizationId }, "could not remove a deleted organisation's data; will retry");
          outcomes.push("retry");
        }
      }
      return outcomes;
    },
  );
  await consumer.ready;
  return consumer;
}
