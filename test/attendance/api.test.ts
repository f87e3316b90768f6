import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { status } from "@grpc/grpc-js";
import { fromBinary } from "@bufbuild/protobuf";
import { timestampDate, timestampFromDate } from "@bufbuild/protobuf/wkt";
import { AuditEventSchema, type AuditEvent } from "../../gen/rollcall/audit/v1/bus_pb.js";
import { Outcome } from "../../gen/rollcall/audit/v1/types_pb.js";
import { ActorType } from "../../gen/rollcall/common/v1/common_pb.js";
import { EventType, Source } from "../../gen/rollcall/attendance/v1/attendance_pb.js";
import { DeviceDirection } from "../../gen/rollcall/identity/v1/device_pb.js";
import { loadAttendanceConfig } from "../../services/attendance/config.js";
import { addDays, localDate, nextMidnight, startOfDay } from "../../services/attendance/domain/calendar.js";
import { DayCloser } from "../../services/attendance/domain/closer.js";
import { Days } from "../../services/attendance/domain/days.js";
import { IdentityDirectory } from "../../services/attendance/domain/directory.js";
import { TODAY_GRACE_MS, TodayStore, todayKey } from "../../services/attendance/domain/today-store.js";
import type { BusMessage, Consumer } from "../../services/runtime/bus/bus.js";
import { STREAMS } from "../../services/runtime/bus/streams.js";
import { Sql } from "../../services/runtime/db/index.js";
import { AppError } from "../../services/runtime/errors.js";
import { createLogger } from "../../services/runtime/logger.js";
import { MeshClients } from "../../services/runtime/mesh-clients.js";
import { ServiceTokens } from "../../services/runtime/service-tokens.js";
import { createTenant, eventually, publishRecognition, startWorld, type AttendanceInstance, type AttendanceWorld, type Tenant } from "./fixture.js";
import { daytimeZone } from "./zones.js";

const ZONE = "America/New_York";
const HOUR = 3_600_000;
const MAX_CSV_CHUNK = 64 * 1024;

const rejects = (promise: Promise<unknown>, code: status, field?: RegExp) =>
  assert.rejects(promise, (err: AppError) => {
    assert.equal(err.code, code, err.message);
    if (field) assert.match(err.message, field);
    return true;
  });

describe("attendance: day records, API and authorisation", function () {
  this.timeout(120_000);
  let world: AttendanceWorld;
  let service: AttendanceInstance;
  let org: Tenant;
  let rival: Tenant;
  let replicas: DayCloser[];
  let clients: MeshClients;
  let auditFeed: Consumer;
  const audited: BusMessage[] = [];
  const today = () => localDate(new Date(), ZONE);
  const yesterday = () => addDays(today(), -1);
  const local = (date: string, hours: number) => new Date(startOfDay(date, ZONE).getTime() + hours * HOUR);

  before(async () => {
    world = await startWorld();
    service = await world.start();
    org = await createTenant(world, ZONE, { gate: DeviceDirection.IN, exit: DeviceDirection.OUT });
    rival = await createTenant(world, "UTC", { gate: DeviceDirection.IN });
    clients = new MeshClients(world.config.addresses);
    // Everything attendance audits for this organisation, as the audit service would read it.
    await world.bus.bus.ensureStream(STREAMS.audit);
    auditFeed = world.bus.bus.consume({ stream: STREAMS.audit.name, durable: `attendance-api-audit-${org.code}`, filterSubject: `audit.${org.id}.attendance` }, async (batch) => void audited.push(...batch));
    await auditFeed.ready;
    const logger = createLogger("silent");
    // Two closers over one database, as two replicas would run them.
    replicas = [0, 1].map(() => {
      const directory = new IdentityDirectory(clients, new ServiceTokens(clients, "attendance", world.config.serviceSecret), loadAttendanceConfig(), logger);
      return new DayCloser(world.database.db, new Days(world.database.db, directory, new TodayStore(world.cache.cache, logger)), logger, 60_000);
    });
  });
  after(async () => {
    await auditFeed?.stop();
    clients?.close();
    await world?.stop();
  });

  const operator = () => service.client(org.tokens.operator);
  const member = () => service.client(org.tokens.member);
  const logsOf = (userId: string) =>
    world.database.db.withTenant(org.id, (tx) =>
      new Sql(world.database.db.sequelize).rows<{ event_id: string; attendance_id: string | null; attendance_date: string; source: string; actor_id: string | null; reason: string | null }>(
        tx,
        "SELECT event_id, attendance_id, attendance_date::text AS attendance_date, source, actor_id, reason FROM attendance.attendance_logs WHERE user_id = $1",
        [userId],
      ),
    );
  const auditsOf = (action: string, entityId: string): AuditEvent[] =>
    audited.map((m) => fromBinary(AuditEventSchema, m.data)).filter((e) => e.action === action && e.entityId === entityId);
  const auditOf = (action: string, entityId: string) =>
    eventually(async () => auditsOf(action, entityId)[0], `the ${action} audit event of ${entityId}`);

  it("closes yesterday at the organisation's local midnight: local date, IN→OUT minutes, open interval flagged", async () => {
    const user = org.users.member;
    const day = yesterday();
    await publishRecognition(world, org.id, { userId: user, deviceId: org.devices.gate!, at: local(day, 9) });
    await publishRecognition(world, org.id, { userId: user, deviceId: org.devices.exit!, at: local(day, 12), similarity: 0.7 });
    await publishRecognition(world, org.id, { userId: user, deviceId: org.devices.gate!, at: local(day, 13) });
    // 23:50 in New York is already the next day in UTC: it still belongs to the local day.
    await publishRecognition(world, org.id, { userId: user, deviceId: org.devices.gate!, at: local(day, 23 + 50 / 60) });
    const logs = await eventually(async () => {
      const rows = await logsOf(user);
      return rows.length >= 4 ? rows : undefined;
    }, "four logs");
    assert.ok(logs.every((l) => l.attendance_date === day && l.attendance_id === null));

    const closed = await Promise.all(replicas.map((r) => r.sweep()));
    assert.ok(closed[0]! + closed[1]! >= 1);
    const { records } = await operator().listRecords({ fromDate: day, toDate: day, userId: user });
    assert.equal(records.length, 1, "two closers, one record");
    const record = records[0]!;
    assert.equal(record.attendanceDate, day);
    assert.equal(timestampDate(record.firstInTime!).getTime(), local(day, 9).getTime());
    assert.equal(timestampDate(record.lastOutTime!).getTime(), local(day, 12).getTime());
    assert.equal(record.totalMinutes, 180);
    assert.equal(record.openInterval, true, "the IN at 13:00 had no OUT: flagged, not invented");
    assert.equal(record.source, Source.CAMERA);
    assert.equal(record.confidence, 70);
    assert.ok((await logsOf(user)).every((l) => l.attendance_id === record.id), "every log of the day points at its record");

    const summary = await member().getSummary({ fromDate: addDays(day, -3), toDate: day });
    assert.deepEqual([summary.daysPresent, summary.totalMinutes, summary.daysOpen], [1, 180, 1]);
  });

  it("records a manual OUT on a closed day (audited, idempotent) and recomputes the record", async () => {
    const user = org.users.member;
    const day = yesterday();
    const eventId = randomUUID();
    const request = { userId: user, eventType: EventType.OUT, eventTime: timestampFromDate(local(day, 17)), reason: "badge reader was down", eventId };
    const first = await operator().recordManualEvent(request);
    assert.equal(first.log!.source, Source.MANUAL);
    assert.equal(first.log!.actorId, org.users.operator);
    assert.equal(first.log!.confidence, 100);
    const again = await operator().recordManualEvent(request);
    assert.equal(again.log!.id, first.log!.id, "a retry returns the same log");
    const { records } = await operator().listRecords({ fromDate: day, toDate: day, userId: user });
    assert.equal(records[0]!.totalMinutes, 180 + 240);
    assert.equal(records[0]!.openInterval, true, "the IN at 23:50 is still open");
    assert.equal(records[0]!.source, Source.MANUAL);

    assert.equal(first.log!.reason, "badge reader was down");
    const stored = (await logsOf(user)).find((l) => l.event_id === eventId)!;
    assert.deepEqual([stored.source, stored.actor_id, stored.reason], ["MANUAL", org.users.operator, "badge reader was down"]);
    const audit = await auditOf("attendance.manual_event", first.log!.id);
    assert.equal(audit.organizationId, org.id);
    assert.equal(audit.service, "attendance");
    assert.deepEqual([audit.actorType, audit.actorId], [ActorType.USER, org.users.operator], "the operator is the actor");
    assert.deepEqual([audit.entityType, audit.outcome], ["attendance_log", Outcome.SUCCESS]);
    assert.equal(audit.detail?.reason, "badge reader was down");
    assert.equal(audit.detail?.userId, user);
    assert.equal(audit.detail?.eventType, "OUT");
    assert.equal(audit.detail?.eventTime, local(day, 17).toISOString());
  });

  it("corrects a record (source MANUAL, audited) and refuses bad corrections naming the field", async () => {
    const day = yesterday();
    const { records } = await operator().listRecords({ fromDate: day, toDate: day, userId: org.users.member });
    const id = records[0]!.id;
    await rejects(operator().correctRecord({ recordId: id, firstInTime: timestampFromDate(local(day, 8)) }), status.INVALID_ARGUMENT, /^reason:/);
    await rejects(operator().correctRecord({ recordId: id, firstInTime: timestampFromDate(local(day, 30)), reason: "x" }), status.INVALID_ARGUMENT, /^first_in_time:/);
    await rejects(operator().correctRecord({ recordId: id, firstInTime: timestampFromDate(local(day, 8)), lastOutTime: timestampFromDate(local(day, 7)), reason: "x" }), status.INVALID_ARGUMENT, /^last_out_time:/);
    await rejects(operator().correctRecord({ recordId: randomUUID(), firstInTime: timestampFromDate(local(day, 8)), reason: "x" }), status.NOT_FOUND);
    await rejects(member().correctRecord({ recordId: id, firstInTime: timestampFromDate(local(day, 8)), reason: "mine" }), status.PERMISSION_DENIED);
    const { record } = await operator().correctRecord({ recordId: id, firstInTime: timestampFromDate(local(day, 8)), lastOutTime: timestampFromDate(local(day, 16.5)), reason: "forgot badge" });
    assert.equal(record!.totalMinutes, 510);
    assert.equal(record!.source, Source.MANUAL);
    assert.equal(record!.openInterval, false);
    const stored = await world.database.db.withTenant(org.id, (tx) =>
      new Sql(world.database.db.sequelize).row<{ corrected_by: string; correction_reason: string }>(tx, "SELECT corrected_by, correction_reason FROM attendance.attendance_records WHERE id = $1", [id]),
    );
    assert.deepEqual(stored, { corrected_by: org.users.operator, correction_reason: "forgot badge" });
    const audit = await auditOf("attendance.record.correct", id);
    assert.equal(audit.organizationId, org.id);
    assert.deepEqual([audit.actorType, audit.actorId], [ActorType.USER, org.users.operator], "the operator is the actor");
    assert.deepEqual([audit.entityType, audit.outcome], ["attendance_record", Outcome.SUCCESS]);
    assert.equal(audit.detail?.reason, "forgot badge");
    assert.equal(audit.detail?.userId, org.users.member);
    assert.equal(audit.detail?.date, day);
    assert.deepEqual(audit.detail?.after, { firstIn: local(day, 8).toISOString(), lastOut: local(day, 16.5).toISOString(), totalMinutes: 510 });
    assert.equal((audit.detail?.before as { totalMinutes: number }).totalMinutes, 180 + 240, "what the record said before");
    assert.equal(auditsOf("attendance.record.correct", id).length, 1, "refused corrections are not audited as done");
    // The stream is read in order, so the earlier manual event's audits have all arrived by now.
    assert.equal(audited.map((m) => fromBinary(AuditEventSchema, m.data)).filter((e) => e.action === "attendance.manual_event").length, 1, "the retried manual event was audited once");
    await Promise.all(replicas.map((r) => r.sweep()));
    const after = await operator().listRecords({ fromDate: day, toDate: day, userId: org.users.member });
    assert.equal(after.records[0]!.totalMinutes, 510, "a later close keeps the correction");
  });

  it("lets a USER see only their own attendance, an OPERATOR all of the organisation's, another tenant nothing", async () => {
    const day = yesterday();
    await publishRecognition(world, org.id, { userId: org.users.other, deviceId: org.devices.gate!, at: local(day, 10) });
    await eventually(async () => ((await logsOf(org.users.other)).length > 0 ? true : undefined), "a log of the other user");
    await replicas[0]!.sweep();

    const all = await operator().listRecords({ fromDate: day, toDate: day });
    assert.deepEqual(all.records.map((r) => r.userId).sort(), [org.users.member, org.users.other].sort());
    const own = await member().listRecords({ fromDate: day, toDate: day });
    assert.deepEqual(own.records.map((r) => r.userId), [org.users.member]);
    await rejects(member().listRecords({ fromDate: day, toDate: day, userId: org.users.other }), status.PERMISSION_DENIED);
    await rejects(member().getToday({ userId: org.users.other }), status.PERMISSION_DENIED);
    await rejects(member().getSummary({ userId: org.users.other, fromDate: day, toDate: day }), status.PERMISSION_DENIED);
    await rejects(member().recordManualEvent({ userId: org.users.member, eventType: EventType.IN, eventTime: timestampFromDate(new Date()), reason: "me" }), status.PERMISSION_DENIED);
    assert.equal((await member().getToday({})).userId, org.users.member);

    const sales = await operator().listRecords({ fromDate: day, toDate: day, department: "Sales" });
    assert.deepEqual(sales.records.map((r) => r.userId), [org.users.member]);

    const outsider = service.client(rival.tokens.operator);
    await rejects(outsider.listRecords({ organizationId: org.id, fromDate: day, toDate: day }), status.PERMISSION_DENIED);
    assert.deepEqual((await outsider.listRecords({ fromDate: day, toDate: day })).records, []);
    assert.deepEqual((await outsider.getSummary({ userId: org.users.member, fromDate: day, toDate: day })).daysPresent, 0);
    await rejects(outsider.correctRecord({ recordId: own.records[0]!.id, firstInTime: timestampFromDate(local(day, 8)), reason: "x" }), status.NOT_FOUND);
  });

  it("pages records with a cursor and exports them as CSV", async () => {
    const day = yesterday();
    const first = await operator().listRecords({ fromDate: day, toDate: day, page: { pageSize: 1 } });
    assert.equal(first.records.length, 1);
    assert.ok(first.page!.nextPageToken);
    const second = await operator().listRecords({ fromDate: day, toDate: day, page: { pageSize: 1, pageToken: first.page!.nextPageToken } });
    assert.equal(second.records.length, 1);
    assert.notEqual(second.records[0]!.userId, first.records[0]!.userId);
    assert.equal(second.page!.nextPageToken, "");

    let csv = "";
    for await (const part of operator().exportRecords({ fromDate: day, toDate: day })) csv += Buffer.from(part.chunk).toString("utf8");
    const lines = csv.trimEnd().split("\r\n");
    assert.equal(lines[0], "attendance_date,user_id,employee_code,full_name,department,first_in_time,last_out_time,total_minutes,open_interval,source,confidence");
    assert.equal(lines.length, 3);
    const memberLine = lines.find((l) => l.includes(org.users.member))!;
    assert.match(memberLine, new RegExp(`^${day},${org.users.member},MEMBER-1,[^,]*member[^,]*,Sales,${day}T08:00:00-0[45]:00,${day}T16:30:00-0[45]:00,510,false,MANUAL,`));
    await rejects((async () => { for await (const _ of member().exportRecords({ fromDate: day, toDate: day })) void _; })(), status.PERMISSION_DENIED);
  });

  it("closes a day whose cached state expired after local midnight into a record, from the logs, at the next sweep", async () => {
    const zone = daytimeZone();
    const tenant = await createTenant(world, zone, { gate: DeviceDirection.IN, exit: DeviceDirection.OUT });
    const user = tenant.users.member;
    const now = Date.now();
    const [arrived, left] = [new Date(now - HOUR), new Date(now - HOUR / 2)];
    await publishRecognition(world, tenant.id, { userId: user, deviceId: tenant.devices.gate!, at: arrived });
    await publishRecognition(world, tenant.id, { userId: user, deviceId: tenant.devices.exit!, at: left });
    await eventually(async () => ((await service.client(tenant.tokens.operator).getToday({ userId: user })).events.length === 2 ? true : undefined), "today's two events");
    const day = localDate(new Date(now), zone);
    const key = todayKey(tenant.id, user);
    const expiresAt = Date.now() + (await world.cache.cache.pttl(key));
    const afterExpiry = new Date(nextMidnight(new Date(now), zone).getTime() + TODAY_GRACE_MS + 60_000);
    assert.ok(expiresAt <= afterExpiry.getTime(), "the cached state is gone by the time of this sweep");
    assert.equal(await replicas[0]!.closeOrganization(tenant.id, new Date()), 0, "a day is not closed while it lasts");

    await world.cache.cache.del(key); // what Redis does at expiresAt
    assert.ok((await replicas[0]!.sweep(afterExpiry)) >= 1);
    const { records } = await service.client(tenant.tokens.operator).listRecords({ fromDate: day, toDate: day, userId: user });
    assert.equal(records.length, 1);
    const record = records[0]!;
    assert.equal(timestampDate(record.firstInTime!).getTime(), arrived.getTime());
    assert.equal(timestampDate(record.lastOutTime!).getTime(), left.getTime());
    assert.equal(record.totalMinutes, 30);
    assert.equal(record.openInterval, false);
    assert.equal(record.source, Source.CAMERA);
    const logs = await world.database.db.withTenant(tenant.id, (tx) =>
      new Sql(world.database.db.sequelize).rows<{ attendance_id: string | null }>(tx, "SELECT attendance_id FROM attendance.attendance_logs WHERE user_id = $1", [user]),
    );
    assert.deepEqual(logs.map((l) => l.attendance_id), [record.id, record.id], "both logs folded into the record");
  });

  it("streams a CSV export of several pages as chunks of whole rows, each at most 64 KiB", async () => {
    const tenant = await createTenant(world, "UTC", {});
    const day = addDays(localDate(new Date(), "UTC"), -10);
    const ROWS = 1_200; // three pages of the export's 500, about 150 KiB of CSV
    const users = Array.from({ length: ROWS }, () => randomUUID()).sort();
    const firstIns = users.map((_, i) => new Date(Date.parse(`${day}T08:00:00Z`) + i * 1_000));
    const minutes = users.map((_, i) => 480 + (i % 60));
    await world.database.db.withTenant(tenant.id, (tx) =>
      new Sql(world.database.db.sequelize).execute(
        tx,
        `INSERT INTO attendance.attendance_records (id, organization_id, user_id, attendance_date, first_in_time, last_out_time, total_minutes, open_interval, source, confidence)
         SELECT gen_random_uuid(), $1::uuid, u, $2::date, f, f + m * interval '1 minute', m, false, 'CAMERA', 87.5
           FROM unnest($3::uuid[], $4::timestamptz[], $5::int[]) AS t(u, f, m)`,
        [tenant.id, day, users, firstIns.map((d) => d.toISOString()), minutes],
      ),
    );
    const utc = (d: Date) => `${d.toISOString().slice(0, 19)}+00:00`;
    const expected = [
      "attendance_date,user_id,employee_code,full_name,department,first_in_time,last_out_time,total_minutes,open_interval,source,confidence\r\n",
      ...users.map((u, i) => `${day},${u},,,,${utc(firstIns[i]!)},${utc(new Date(firstIns[i]!.getTime() + minutes[i]! * 60_000))},${minutes[i]},false,CAMERA,87.50\r\n`),
    ];

    const chunks: string[] = [];
    for await (const part of service.client(tenant.tokens.operator).exportRecords({ fromDate: day, toDate: day })) {
      assert.ok(part.chunk.length <= MAX_CSV_CHUNK, `a chunk of ${part.chunk.length} bytes`);
      chunks.push(Buffer.from(part.chunk).toString("utf8"));
    }
    const bytes = Buffer.byteLength(expected.join(""));
    assert.ok(bytes > 2 * MAX_CSV_CHUNK);
    assert.ok(chunks.length >= Math.ceil(bytes / MAX_CSV_CHUNK), `${chunks.length} chunks for ${bytes} bytes`);
    let row = 0;
    for (const [n, chunk] of chunks.entries()) {
      // Whole rows: each chunk is exactly the next run of expected rows.
      let end = row;
      let text = "";
      while (text.length < chunk.length && end < expected.length) text += expected[end++];
      assert.equal(chunk, text, `chunk ${n} is rows ${row}..${end - 1}`);
      row = end;
    }
    assert.equal(row, expected.length, "every row, once, in order");
    assert.equal(chunks.join(""), expected.join(""));
  });

  it("refuses bad input with INVALID_ARGUMENT naming the field", async () => {
    const op = operator();
    await rejects(op.listRecords({ fromDate: "2024-03-02", toDate: "2024-03-01" }), status.INVALID_ARGUMENT, /^to_date:/);
    await rejects(op.listRecords({ fromDate: "2024-02-30", toDate: "2024-03-01" }), status.INVALID_ARGUMENT, /^from_date:/);
    await rejects(op.listRecords({ fromDate: "", toDate: "2024-03-01" }), status.INVALID_ARGUMENT, /^from_date:/);
    await rejects(op.listRecords({ fromDate: "2023-01-01", toDate: "2024-03-01" }), status.INVALID_ARGUMENT, /^to_date:.*366/);
    await rejects(op.listRecords({ fromDate: "2024-03-01", toDate: "2024-03-01", page: { pageSize: 501 } }), status.INVALID_ARGUMENT, /^page.page_size:/);
    await rejects(op.listRecords({ fromDate: "2024-03-01", toDate: "2024-03-01", userId: "bob" }), status.INVALID_ARGUMENT, /^user_id:/);
    await rejects(op.getSummary({ fromDate: "yesterday", toDate: "2024-03-01" }), status.INVALID_ARGUMENT, /^from_date:/);
    await rejects(op.getToday({ userId: "not-a-uuid" }), status.INVALID_ARGUMENT, /^user_id:/);
    const manual = { userId: org.users.member, eventType: EventType.IN, eventTime: timestampFromDate(new Date()), reason: "ok" };
    await rejects(op.recordManualEvent({ ...manual, reason: "  " }), status.INVALID_ARGUMENT, /^reason:/);
    await rejects(op.recordManualEvent({ ...manual, eventType: EventType.UNSPECIFIED }), status.INVALID_ARGUMENT, /^event_type:/);
    await rejects(op.recordManualEvent({ ...manual, eventTime: undefined }), status.INVALID_ARGUMENT, /^event_time:/);
    await rejects(op.recordManualEvent({ ...manual, eventTime: timestampFromDate(new Date(Date.now() + HOUR)) }), status.INVALID_ARGUMENT, /^event_time:/);
    await rejects(op.recordManualEvent({ ...manual, eventTime: timestampFromDate(new Date(Date.now() - 40 * 24 * HOUR)) }), status.INVALID_ARGUMENT, /^event_time:/);
    await rejects(op.recordManualEvent({ ...manual, eventId: "x" }), status.INVALID_ARGUMENT, /^event_id:/);
    await rejects(op.correctRecord({ recordId: "", reason: "x" }), status.INVALID_ARGUMENT, /^record_id:/);
  });
});
