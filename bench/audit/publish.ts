import { randomUUID } from "node:crypto";
import { create, toBinary } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { AuditEventSchema } from "../../gen/rollcall/audit/v1/bus_pb.js";
import { Outcome } from "../../gen/rollcall/audit/v1/types_pb.js";
import { ActorType } from "../../gen/rollcall/common/v1/common_pb.js";
import { subjects, type Bus } from "../../services/runtime/bus/bus.js";
import { STREAMS } from "../../services/runtime/bus/streams.js";

/** Publishes `count` realistic audit events over the organisations, `window` in flight; returns their ids. */
export async function publishAuditEvents(bus: Bus, orgs: string[], count: number, window = 1_000): Promise<{ ids: Set<string>; seconds: number }> {
  await bus.ensureStream(STREAMS.audit);
  const ids = new Set<string>();
  const started = performance.now();
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      const org = orgs[i % orgs.length]!;
      const eventId = randomUUID();
      ids.add(eventId);
      const event = create(AuditEventSchema, {
        eventId, organizationId: org, actorType: ActorType.USER, actorId: randomUUID(), action: i % 3 === 0 ? "auth.login" : "user.update",
        entityType: "user", entityId: randomUUID(), outcome: Outcome.SUCCESS, ip: `10.0.${i % 256}.${(i >> 8) % 256}`,
        userAgent: "Mozilla/5.0 (bench)", detail: { fields: ["email", "phone"], attempt: i % 5 }, occurredAt: timestampFromDate(new Date()), service: "bench",
      });
      const data = toBinary(AuditEventSchema, event);
      // A publish whose acknowledgement timed out (a loaded machine) may still have been stored:
      // the same message id again is deduplicated by the stream, so retrying never doubles it.
      for (let attempt = 1; ; attempt++) {
        try {
          await bus.publish(subjects.audit(org, "bench"), data, { msgId: eventId });
          break;
        } catch (err) {
          if (attempt >= 5) throw err;
        }
      }
    }
  };
  await Promise.all(Array.from({ length: window }, worker));
  return { ids, seconds: (performance.now() - started) / 1000 };
}
