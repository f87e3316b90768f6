import { randomUUID } from "node:crypto";
import { create, toBinary, type JsonObject } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { AuditEventSchema } from "../../gen/rollcall/audit/v1/bus_pb.js";
import { Outcome } from "../../gen/rollcall/audit/v1/types_pb.js";
import { ActorType } from "../../gen/rollcall/common/v1/common_pb.js";
import type { Bus } from "./bus/bus.js";
import { subjects } from "./bus/bus.js";
import { STREAMS } from "./bus/streams.js";
import { StreamPublisher } from "./bus/stream-publisher.js";
import type { Logger } from "./logger.js";
import type { Caller } from "./auth/caller.js";

export interface AuditRecord {
  /** Empty for platform-level actions. */
  organizationId: string | undefined;
  actor: Pick<Caller, "kind" | "subject"> | { kind: "system"; subject: "" };
  /** Dotted verb: "user.create", "auth.login". */
  action: string;
  entityType?: string;
  entityId?: string;
  outcome: "SUCCESS" | "FAILURE" | "DENIED";
  ip?: string;
  userAgent?: string;
  /** Small and never secret: no passwords, tokens, hashes. */
  detail?: JsonObject;
}

const ACTOR_TYPES = { user: ActorType.USER, device: ActorType.DEVICE, service: ActorType.SERVICE, system: ActorType.SYSTEM };
const OUTCOMES = { SUCCESS: Outcome.SUCCESS, FAILURE: Outcome.FAILURE, DENIED: Outcome.DENIED };

/**
 * Publishes audit events to the AUDIT stream, with the event id as the JetStream message id so a
 * retried publish is stored once. A publish that fails (bus down) is logged as an error with the
 * whole record, never silently dropped, and never fails the action that was audited.
 * (An outbox table written in the action's own transaction would close that gap; see the README.)
 */
export class AuditPublisher {
  private readonly stream: StreamPublisher;

  constructor(bus: Bus, private readonly service: string, logger: Logger) {
    this.stream = new StreamPublisher(bus, STREAMS.audit, logger);
  }

  async publish(record: AuditRecord): Promise<void> {
    const event = create(AuditEventSchema, {
      eventId: randomUUID(),
      organizationId: record.organizationId ?? "",
      actorType: ACTOR_TYPES[record.actor.kind],
      actorId: record.actor.subject,
      action: record.action,
      entityType: record.entityType ?? "",
      entityId: record.entityId ?? "",
      outcome: OUTCOMES[record.outcome],
      ip: record.ip ?? "",
      userAgent: (record.userAgent ?? "").slice(0, 512),
      detail: record.detail,
      occurredAt: timestampFromDate(new Date()),
      service: this.service,
    });
    await this.stream.publish(subjects.audit(record.organizationId || "platform", this.service), toBinary(AuditEventSchema, event), event.eventId, record);
  }
}
