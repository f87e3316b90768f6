import { fromBinary } from "@bufbuild/protobuf";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { PlatformEventSchema } from "../../../gen/rollcall/audit/v1/bus_pb.js";
import { Severity } from "../../../gen/rollcall/audit/v1/types_pb.js";
import type { BusMessage } from "../../runtime/bus/bus.js";
import { storableObject, storableText } from "../ingest/sanitize.js";
import type { NewEvent } from "./event-store.js";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const TYPE = /^[A-Z][A-Z0-9_]{0,63}$/;

export const SEVERITY_NAMES: Record<number, string> = {
  [Severity.INFO]: "INFO", [Severity.WARNING]: "WARNING", [Severity.ERROR]: "ERROR", [Severity.CRITICAL]: "CRITICAL",
};

/** A PlatformEvent from the EVENTS stream as an event to store, or why it cannot be. */
export function decodePlatformEvent(message: BusMessage): { event: NewEvent } | { problem: string } {
  let event;
  try {
    event = fromBinary(PlatformEventSchema, message.data);
  } catch (err) {
    return { problem: `not a PlatformEvent: ${(err as Error).message}` };
  }
  const id = event.eventId.toLowerCase();
  if (!UUID.test(id)) return { problem: `event_id "${event.eventId.slice(0, 64)}" is not a UUID` };
  const org = event.organizationId.toLowerCase();
  if (org !== "" && !UUID.test(org)) return { problem: `organization_id "${event.organizationId.slice(0, 64)}" is not a UUID` };
  if (!TYPE.test(event.type)) return { problem: `type "${event.type.slice(0, 64)}" is not UPPER_SNAKE of 1–64 characters` };
  return {
    event: {
      id,
      organizationId: org || null,
      type: event.type,
      severity: SEVERITY_NAMES[event.severity] ?? "INFO",
      referenceId: storableText(event.referenceId, 128),
      metadata: storableObject(event.metadata, 16 * 1024),
      occurredAt: event.occurredAt ? timestampDate(event.occurredAt) : message.receivedAt,
    },
  };
}
