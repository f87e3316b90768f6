import { randomUUID } from "node:crypto";
import { create, toBinary, type JsonObject } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { PlatformEventSchema } from "../../gen/rollcall/audit/v1/bus_pb.js";
import { Severity } from "../../gen/rollcall/audit/v1/types_pb.js";
import { subjects, type Bus } from "./bus/bus.js";
import { STREAMS } from "./bus/streams.js";
import { StreamPublisher } from "./bus/stream-publisher.js";
import type { Logger } from "./logger.js";

export interface PlatformEventInput {
  organizationId: string | undefined;
  /** UNKNOWN_FACE, LOW_CONFIDENCE, DEVICE_DOWN, TOKEN_REUSE, LOGIN_LOCKOUT, ORGANIZATION_DELETED … */
  type: string;
  severity: Severity;
  referenceId?: string;
  metadata?: JsonObject;
  /** Deduplication key; a new UUID when not given. */
  eventId?: string;
}

/** Publishes platform events to the EVENTS stream (the audit service stores and notifies). */
export class EventPublisher {
  private readonly stream: StreamPublisher;

  constructor(bus: Bus, logger: Logger) {
    this.stream = new StreamPublisher(bus, STREAMS.events, logger);
  }

  async publish(input: PlatformEventInput): Promise<boolean> {
    const event = create(PlatformEventSchema, {
      eventId: input.eventId ?? randomUUID(),
      organizationId: input.organizationId ?? "",
      type: input.type,
      severity: input.severity,
      referenceId: input.referenceId ?? "",
      metadata: input.metadata,
      occurredAt: timestampFromDate(new Date()),
    });
    return this.stream.publish(subjects.events(input.organizationId || "platform"), toBinary(PlatformEventSchema, event), event.eventId, input);
  }
}

export { Severity };
