import { randomUUID } from "node:crypto";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { EventType, type AttendanceService } from "../../../gen/rollcall/attendance/v1/attendance_pb.js";
import type { AuditPublisher } from "../../runtime/audit-publisher.js";
import type { Authorizer } from "../../runtime/authz/authorizer.js";
import { callerOf, targetOrganization } from "../../runtime/authz/callers.js";
import { alreadyExists, invalidArgument, notFound } from "../../runtime/errors.js";
import type { ServiceImpl } from "../../runtime/grpc/context.js";
import * as v from "../../runtime/validate.js";
import { localDate } from "../domain/calendar.js";
import type { DayCloser } from "../domain/closer.js";
import { EventIdTaken, type Days } from "../domain/days.js";
import { toDayEvent } from "../storage/logs-repo.js";
import { toLog, toRecord } from "./convert.js";
import { reason as reasonOf } from "./request.js";

const FUTURE_MS = 5 * 60_000;
const PAST_MS = 31 * 86_400_000;

/** RecordManualEvent and CorrectRecord: operators' entries, source MANUAL, audited. */
export function manualHandlers(days: Days, closer: DayCloser, authz: Authorizer, audit: AuditPublisher): ServiceImpl<typeof AttendanceService> {
  return {
    async recordManualEvent(req, ctx) {
      const organizationId = targetOrganization(ctx, "");
      const userId = v.uuid("user_id", req.userId);
      if (req.eventType !== EventType.IN && req.eventType !== EventType.OUT) throw invalidArgument("event_type", "must be IN or OUT");
      if (!req.eventTime) throw invalidArgument("event_time", "is required");
      const time = timestampDate(req.eventTime);
      const now = Date.now();
      if (time.getTime() > now + FUTURE_MS) throw invalidArgument("event_time", "must not be more than 5 minutes in the future");
      if (time.getTime() < now - PAST_MS) throw invalidArgument("event_time", "must not be more than 31 days in the past");
      const reason = reasonOf(req.reason);
      const eventId = req.eventId ? v.uuid("event_id", req.eventId) : randomUUID();
      await authz.authorize(ctx, "attendance", "create", userId);
      const actorId = callerOf(ctx).subject;
      let stored;
      try {
        stored = await days.addManual(organizationId, {
          userId, eventId, type: req.eventType === EventType.IN ? "IN" : "OUT", time, deviceId: null, confidence: 100, source: "MANUAL", actorId, reason,
        });
      } catch (err) {
        if (err instanceof EventIdTaken) throw alreadyExists(`an event with event_id ${eventId}`);
        throw err;
      }
      if (stored.row.user_id !== userId) throw alreadyExists(`an event of another user with event_id ${eventId}`);
      if (stored.created) {
        await audit.publish({
          organizationId, actor: callerOf(ctx), action: "attendance.manual_event", entityType: "attendance_log", entityId: stored.row.id, outcome: "SUCCESS", ...ctx.client,
          detail: { userId, eventType: stored.row.event_type, eventTime: time.toISOString(), reason },
        });
        // A past day that was already closed is closed again with this event in it.
        if (stored.date < stored.today) await closer.closeOrganization(organizationId);
      }
      return { log: toLog(organizationId, userId, toDayEvent(stored.row)) };
    },

    async correctRecord(req, ctx) {
      const organizationId = targetOrganization(ctx, "");
      const recordId = v.uuid("record_id", req.recordId);
      if (!req.firstInTime) throw invalidArgument("first_in_time", "is required");
      const firstIn = timestampDate(req.firstInTime);
      const lastOut = req.lastOutTime ? timestampDate(req.lastOutTime) : undefined;
      if (lastOut && lastOut.getTime() <= firstIn.getTime()) throw invalidArgument("last_out_time", "must be after first_in_time");
      const reason = reasonOf(req.reason);
      const existing = await days.db.withTenant(organizationId, (tx) => days.records.get(tx, recordId));
      // Authorised against the owner when the record exists; otherwise only a caller with
      // update rights on every record learns that it does not.
      await authz.authorize(ctx, "attendance", "update", existing?.user_id);
      if (!existing) throw notFound("attendance record", recordId);
      const { timeZone } = await days.directory.rules(organizationId);
      if (localDate(firstIn, timeZone) !== existing.attendance_date) {
        throw invalidArgument("first_in_time", `must fall on the record's date ${existing.attendance_date} (${timeZone})`);
      }
      const totalMinutes = lastOut ? Math.floor((lastOut.getTime() - firstIn.getTime()) / 60_000) : 0;
      const actor = callerOf(ctx);
      const updated = await days.db.withTenant(organizationId, async (tx) => {
        await days.logs.lockDays(tx, organizationId);
        return days.records.correct(tx, recordId, { firstIn, lastOut, totalMinutes, actorId: actor.subject, reason });
      });
      await audit.publish({
        organizationId, actor, action: "attendance.record.correct", entityType: "attendance_record", entityId: recordId, outcome: "SUCCESS", ...ctx.client,
        detail: {
          userId: existing.user_id,
          date: existing.attendance_date,
          reason,
          before: { firstIn: existing.first_in_time ? new Date(existing.first_in_time).toISOString() : null, lastOut: existing.last_out_time ? new Date(existing.last_out_time).toISOString() : null, totalMinutes: existing.total_minutes },
          after: { firstIn: firstIn.toISOString(), lastOut: lastOut?.toISOString() ?? null, totalMinutes },
        },
      });
      return { record: toRecord(updated) };
    },
  };
}
