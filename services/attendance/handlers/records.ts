import type { AttendanceService } from "../../../gen/rollcall/attendance/v1/attendance_pb.js";
import type { Authorizer } from "../../runtime/authz/authorizer.js";
import { targetOrganization } from "../../runtime/authz/callers.js";
import type { CallContext, ServiceImpl } from "../../runtime/grpc/context.js";
import { pageOf, readPage } from "../../runtime/pagination.js";
import * as v from "../../runtime/validate.js";
import type { Days } from "../domain/days.js";
import type { RecordRow } from "../storage/records-repo.js";
import { toRecord } from "./convert.js";
import { csvRecords } from "./csv.js";
import { dateRange, optionalUuid, personOf, readableUser } from "./request.js";

/** ListRecords, GetSummary, ExportRecords. */
export function recordHandlers(days: Days, authz: Authorizer): ServiceImpl<typeof AttendanceService> {
  /** The users a listing is limited to: one person, a department's members, or everyone (undefined). */
  async function usersOf(ctx: CallContext, organizationId: string, action: string, req: { userId: string; department: string }): Promise<string[] | undefined> {
    const requested = optionalUuid("user_id", req.userId);
    const department = v.text("department", req.department, { max: 200 });
    const only = await readableUser(ctx, authz, action, requested);
    let users = only === undefined ? undefined : [only];
    if (department) {
      const members = await days.directory.departmentMembers(organizationId, department);
      users = users ? users.filter((u) => members.includes(u)) : members;
    }
    return users;
  }

  return {
    async listRecords(req, ctx) {
      const organizationId = targetOrganization(ctx, req.organizationId);
      const { from, to } = dateRange(req.fromDate, req.toDate);
      const page = readPage(req.page);
      const userIds = await usersOf(ctx, organizationId, "read", req);
      const rows = await days.db.withTenant(organizationId, (tx) => days.records.list(tx, { from, to, userIds, after: page.after, limit: page.limit + 1 }));
      const { items, nextPageToken } = pageOf(rows, page.limit, (r: RecordRow) => ({ key: r.attendance_date, id: r.user_id }));
      return { records: items.map(toRecord), page: { nextPageToken } };
    },

    async getSummary(req, ctx) {
      const organizationId = targetOrganization(ctx, "");
      const userId = personOf(ctx, req.userId);
      const { from, to } = dateRange(req.fromDate, req.toDate);
      await authz.authorize(ctx, "attendance", "read", userId);
      const totals = await days.db.withTenant(organizationId, (tx) => days.records.summary(tx, userId, from, to));
      return { userId, fromDate: from, toDate: to, daysPresent: totals.days_present, totalMinutes: totals.total_minutes, daysOpen: totals.days_open };
    },

    async *exportRecords(req, ctx) {
      const organizationId = targetOrganization(ctx, req.organizationId);
      const { from, to } = dateRange(req.fromDate, req.toDate);
      const userIds = await usersOf(ctx, organizationId, "export", req);
      const [{ timeZone }, people] = await Promise.all([days.directory.rules(organizationId), days.directory.people(organizationId)]);
      const pages = async function* () {
        let after: { key: string; id: string } | undefined;
        for (;;) {
          const rows = await days.db.withTenant(organizationId, (tx) => days.records.list(tx, { from, to, userIds, after, limit: 500 }));
          if (rows.length > 0) yield rows;
          if (rows.length < 500 || ctx.signal.aborted) return;
          const last = rows[rows.length - 1]!;
          after = { key: last.attendance_date, id: last.user_id };
        }
      };
      for await (const chunk of csvRecords(pages(), people, timeZone)) yield { chunk };
    },
  };
}
