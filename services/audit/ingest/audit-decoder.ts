import { isIP } from "node:net";
import { fromBinary } from "@bufbuild/protobuf";
import { AuditEventSchema } from "../../../gen/rollcall/audit/v1/bus_pb.js";
import { Outcome } from "../../../gen/rollcall/audit/v1/types_pb.js";
import { ActorType } from "../../../gen/rollcall/common/v1/common_pb.js";
import type { BusMessage } from "../../runtime/bus/bus.js";
import { canonicalIp } from "../chain/canonical.js";
import type { NewAuditRow } from "../chain/chain-writer.js";
import { fieldsOf, readAuditEvent } from "./audit-event-wire.js";
import { storableObject, storableText } from "./sanitize.js";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const DETAIL_MAX_BYTES = 16 * 1024;
/** Postgres stores timestamptz from 4713 BC; every later Date (up to year 275760) fits. */
const EARLIEST_TIMESTAMPTZ_MS = Date.UTC(-4712, 0, 1);

export const ACTOR_TYPE_NAMES: Record<number, string> = {
  [ActorType.USER]: "USER", [ActorType.DEVICE]: "DEVICE", [ActorType.SERVICE]: "SERVICE", [ActorType.SYSTEM]: "SYSTEM",
};
export const OUTCOME_NAMES: Record<number, string> = { [Outcome.SUCCESS]: "SUCCESS", [Outcome.FAILURE]: "FAILURE", [Outcome.DENIED]: "DENIED" };

export type Decoded = { row: NewAuditRow } | { problem: string };

/**
 * An AuditEvent from the bus as a row to append, or why it can never be stored (then it is
 * terminated and logged with its stream position, and stays in the AUDIT stream for inspection).
 * Over-long or unstorable text is cut or replaced rather than refused: keeping the record matters more.
 */
export function decodeAuditEvent(message: BusMessage): Decoded {
  let event = readAuditEvent(message.data);
  if (!event) {
    try {
      event = fieldsOf(fromBinary(AuditEventSchema, message.data));
    } catch (err) {
      return { problem: `not an AuditEvent: ${(err as Error).message}` };
    }
  }
  const eventId = event.eventId.toLowerCase();
  if (!UUID.test(eventId)) return { problem: `event_id "${event.eventId.slice(0, 64)}" is not a UUID` };
  const org = event.organizationId.toLowerCase();
  if (org !== "" && !UUID.test(org)) return { problem: `organization_id "${event.organizationId.slice(0, 64)}" is not a UUID` };
  const actorType = ACTOR_TYPE_NAMES[event.actorType];
  if (!actorType) return { problem: "actor_type is missing" };
  const outcome = OUTCOME_NAMES[event.outcome];
  if (!outcome) return { problem: "outcome is missing" };
  const action = storableText(event.action.trim(), 128);
  if (!action) return { problem: "action is missing" };
  const ip = event.ip.trim();
  // Milliseconds: what timestamptz returns exactly, so the hash can be recomputed.
  const occurredAt = new Date(event.occurredAtMs ?? message.receivedAt.getTime());
  if (!(occurredAt.getTime() >= EARLIEST_TIMESTAMPTZ_MS)) return { problem: "occurred_at is outside what timestamptz stores" };
  return {
    row: {
      eventId,
      organizationId: org || null,
      actorType,
      actorId: storableText(event.actorId, 128),
      action,
      entityType: storableText(event.entityType, 64),
      entityId: storableText(event.entityId, 128),
      outcome,
      ip: isIP(ip) && !ip.includes("%") ? canonicalIp(ip) : null,
      userAgent: storableText(event.userAgent, 512),
      detail: storableObject(event.detail, DETAIL_MAX_BYTES),
      service: storableText(event.service, 64),
      occurredAt,
    },
  };
}
