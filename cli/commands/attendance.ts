import { Command } from "commander";
import { AttendanceLogSchema, AttendanceRecordSchema, AttendanceService, EventType, PresentUserSchema, Source, type GetTodayResponse } from "../../gen/rollcall/attendance/v1/attendance_pb.js";
import { UserService, type User } from "../../gen/rollcall/identity/v1/user_pb.js";
import { protoJson, time } from "../output.js";
import { findUser, listAll } from "../resolve.js";
import { withMesh, type Run } from "../run.js";

const PARALLEL_CALLS = 8;

async function usersById({ conn }: Run): Promise<Map<string, User>> {
  const users = await listAll(async (pageToken) => {
    const page = await conn.client(UserService).listUsers({ page: { pageSize: 500, pageToken } });
    return { items: page.users, next: page.page?.nextPageToken ?? "" };
  });
  return new Map(users.map((u) => [u.id, u]));
}

async function mapLimited<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

function todayJson(t: GetTodayResponse, user?: User) {
  return {
    userId: t.userId, username: user?.username ?? "", fullName: user?.fullName ?? "", attendanceDate: t.attendanceDate, currentlyIn: t.currentlyIn,
    firstInTime: t.firstInTime ? time(t.firstInTime) : null, lastOutTime: t.lastOutTime ? time(t.lastOutTime) : null, totalMinutes: t.totalMinutes,
    events: t.events.map((e) => protoJson(AttendanceLogSchema, e)),
  };
}

const name = (users: Map<string, User>, id: string) => users.get(id)?.username ?? id;

/** rollcall attendance today|who-is-in|report. */
export function attendanceCommand(): Command {
  const attendance = new Command("attendance").description("today's attendance, who is in, and day records");

  attendance.command("today [user]")
    .description("today's attendance of everyone (or of one user, with their events)")
    .option("--all", "also list people with no event today")
    .action(withMesh<{ all?: boolean }>(async (run, opts, ref: string | undefined) => {
      const { conn, out } = run;
      const service = conn.client(AttendanceService);
      if (ref) {
        const user = await findUser(conn, ref);
        const today = await service.getToday({ userId: user.id });
        out.result(todayJson(today, user), () => {
          out.line(`${user.username} on ${today.attendanceDate}: ${today.currentlyIn ? "in" : "out"}, ${today.totalMinutes} min, first in ${time(today.firstInTime)}, last out ${time(today.lastOutTime)}`);
          out.table(["TIME", "EVENT", "SOURCE", "CONFIDENCE", "DEVICE"], today.events.map((e) =>
            [time(e.eventTime), EventType[e.eventType], Source[e.source], e.confidence.toFixed(2), e.deviceId || "-"]), "(no events today)");
        });
        return;
      }
      const users = [...(await usersById(run)).values()].filter((u) => !u.deletedAt);
      const days = await mapLimited(users, PARALLEL_CALLS, async (u) => ({ user: u, today: await service.getToday({ userId: u.id }) }));
      const shown = days.filter((d) => opts.all || d.today.events.length > 0 || d.today.firstInTime);
      const date = days[0]?.today.attendanceDate ?? "";
      const came = days.filter((d) => d.today.firstInTime).length;
      out.result({ attendanceDate: date, people: shown.map((d) => todayJson(d.today, d.user)), summary: { people: users.length, cameIn: came } }, () => {
        out.line(`${date}: ${came} of ${users.length} people came in`);
        out.table(["USER", "NAME", "NOW", "FIRST IN", "LAST OUT", "MINUTES"], shown.map(({ user, today }) =>
          [user.username, user.fullName, today.currentlyIn ? "in" : "out", time(today.firstInTime), time(today.lastOutTime), String(today.totalMinutes)]), "(nobody today)");
      });
    }));

  attendance.command("who-is-in")
    .description("people in right now")
    .action(withMesh(async (run) => {
      const { conn, out } = run;
      let date = "";
      const present = await listAll(async (pageToken) => {
        const page = await conn.client(AttendanceService).listWhoIsIn({ page: { pageSize: 500, pageToken } });
        date = page.attendanceDate;
        return { items: page.users, next: page.page?.nextPageToken ?? "" };
      });
      const users = await usersById(run);
      out.result({ attendanceDate: date, users: present.map((p) => ({ ...(protoJson(PresentUserSchema, p) as object), username: users.get(p.userId)?.username ?? "" })) }, () => {
        out.line(`${present.length} in on ${date}`);
        out.table(["USER", "SINCE", "FIRST IN", "DEVICE"], present.map((p) => [name(users, p.userId), time(p.since), time(p.firstInTime), p.deviceId || "-"]), "(nobody is in)");
      });
    }));

  attendance.command("report")
    .description("day records between two dates (organisation-local), as a table or CSV")
    .requiredOption("--from <date>", "first day, YYYY-MM-DD")
    .requiredOption("--to <date>", "last day, YYYY-MM-DD (at most 366 days after --from)")
    .option("--user <user>", "only this user")
    .option("--department <name>", "only this department", "")
    .option("--csv", "write CSV (RFC 4180, header row) to stdout")
    .action(withMesh<{ from: string; to: string; user?: string; department: string; csv?: boolean }>(async (run, opts) => {
      const { conn, out } = run;
      const userId = opts.user ? (await findUser(conn, opts.user)).id : "";
      const service = conn.client(AttendanceService);
      if (opts.csv) {
        for await (const piece of service.exportRecords({ fromDate: opts.from, toDate: opts.to, userId, department: opts.department }, { timeoutMs: Math.max(conn.timeoutMs, 300_000) })) {
          process.stdout.write(piece.chunk);
        }
        return;
      }
      const records = await listAll(async (pageToken) => {
        const page = await service.listRecords({ fromDate: opts.from, toDate: opts.to, userId, department: opts.department, page: { pageSize: 500, pageToken } });
        return { items: page.records, next: page.page?.nextPageToken ?? "" };
      });
      const users = await usersById(run);
      out.result({ from: opts.from, to: opts.to, records: records.map((r) => protoJson(AttendanceRecordSchema, r)) }, () =>
        out.table(["DATE", "USER", "FIRST IN", "LAST OUT", "MINUTES", "OPEN", "SOURCE"], records.map((r) =>
          [r.attendanceDate, name(users, r.userId), time(r.firstInTime), time(r.lastOutTime), String(r.totalMinutes), r.openInterval ? "yes" : "no", Source[r.source]]), "(no records)"));
    }));

  return attendance;
}
