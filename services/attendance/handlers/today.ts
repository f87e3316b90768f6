import type { AttendanceService } from "../../../gen/rollcall/attendance/v1/attendance_pb.js";
import type { Authorizer } from "../../runtime/authz/authorizer.js";
import { targetOrganization } from "../../runtime/authz/callers.js";
import type { ServiceImpl } from "../../runtime/grpc/context.js";
import { readPage, pageOf } from "../../runtime/pagination.js";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { summarize } from "../domain/day.js";
import type { Days } from "../domain/days.js";
import { toLog } from "./convert.js";
import { personOf, readableUser } from "./request.js";

const MAX_EVENTS = 500;

/** GetToday and ListWhoIsIn. */
export function todayHandlers(days: Days, authz: Authorizer): ServiceImpl<typeof AttendanceService> {
  return {
    async getToday(req, ctx) {
      const organizationId = targetOrganization(ctx, "");
      const userId = personOf(ctx, req.userId);
      await authz.authorize(ctx, "attendance", "read", userId);
      const now = new Date();
      const { date, events } = await days.todayOf(organizationId, userId, now);
      const day = summarize(events, now);
      return {
        userId,
        attendanceDate: date,
        firstInTime: day.firstIn && timestampFromDate(day.firstIn),
        lastOutTime: day.lastOut && timestampFromDate(day.lastOut),
        events: events.slice(0, MAX_EVENTS).map((e) => toLog(organizationId, userId, e)),
        currentlyIn: day.openInterval,
        totalMinutes: day.totalMinutes,
      };
    },

    async listWhoIsIn(req, ctx) {
      const organizationId = targetOrganization(ctx, req.organizationId);
      const page = readPage(req.page);
      const only = await readableUser(ctx, authz, "read", "");
      const after = page.after && { since: page.after.key, userId: page.after.id };
      const { date, rows } = await days.whoIsIn(organizationId, { userId: only, after, limit: page.limit + 1 });
      const { items, nextPageToken } = pageOf(rows, page.limit, (r) => ({ key: new Date(r.since).toISOString(), id: r.user_id }));
      return {
        attendanceDate: date,
        users: items.map((r) => ({ userId: r.user_id, since: timestampFromDate(new Date(r.since)), firstInTime: timestampFromDate(new Date(r.first_in)), deviceId: r.device_id ?? "" })),
        page: { nextPageToken },
      };
    },
  };
}
