import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { status } from "@grpc/grpc-js";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { ActorType } from "../../gen/rollcall/common/v1/common_pb.js";
import { Outcome } from "../../gen/rollcall/audit/v1/types_pb.js";
import { ChainWriter } from "../../services/audit/chain/chain-writer.js";
import { Sql } from "../../services/runtime/db/index.js";
import type { AppError } from "../../services/runtime/errors.js";
import { auditMesh, eventually, type AuditMesh } from "./fixture.js";

const code = (expected: status, field?: string) => (err: unknown) => {
  const e = err as AppError;
  assert.equal(e.code, expected, `expected ${status[expected]}, got ${status[e.code]}: ${e.message}`);
  if (field) assert.match(e.message, new RegExp(`^${field.replace(/[[\].]/g, "\\$&")}`));
  return true;
};

describe("audit: hash-chained audit log", function () {
  this.timeout(60_000);
  let mesh: AuditMesh;
  let a: AuditMesh["orgs"][0];
  let b: AuditMesh["orgs"][1];

  before(async () => {
    mesh = await auditMesh();
    [a, b] = mesh.orgs;
  });

  const stored = (org: string) => mesh.superSql<{ n: number }>(`SELECT count(*)::int AS n FROM audit.audit_logs WHERE organization_id = $1`, [org]).then((r) => r[0]!.n);
  const list = (token: string, filter: object = {}, page?: object) => mesh.audit.listAuditLogs({ filter, page }, { bearer: token });
  const verify = (token: string, org = "") => mesh.audit.verifyChain({ organizationId: org }, { bearer: token });

  it("stores events from the bus once per event id, chained, and lists them newest first", async () => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push(await mesh.publishAudit(a.id, { action: `user.step${i}`, actorId: a.member.id, ip: "2001:0db8:0000::0001" }));
    // Not an AuditEvent: terminated, and the batch around it still stored.
    await mesh.host.bus.publish(`audit.${a.id}.test`, new Uint8Array([0xff, 0xff, 0xff]), { msgId: randomUUID() });
    // The same event id again after the stream's duplicate window (another message id): the database claim dedupes it.
    await new Promise((resolve) => setTimeout(resolve, 100));
    await mesh.publishAudit(a.id, { eventId: ids[0]!, action: "user.step0", msgId: randomUUID() } as never);
    await mesh.publishAudit(b.id, { action: "device.create" });
    await eventually(async () => (await stored(a.id)) === 5 && (await stored(b.id)) === 1, "6 rows");
    const { logs } = await list(a.admin.token);
    // Chain order is commit order (parallel consumers may commit batches in either order).
    assert.deepEqual(logs.map((l) => l.action).sort(), ["user.step0", "user.step1", "user.step2", "user.step3", "user.step4"]);
    assert.deepEqual(logs.map((l) => l.id), logs.map((l) => l.id).sort((x, y) => (x > y ? -1 : 1)));
    assert.equal(logs[4]!.prevHash, "0".repeat(64));
    for (let i = 0; i < 4; i++) assert.equal(logs[i]!.prevHash, logs[i + 1]!.hash);
    assert.equal(logs[0]!.ipAddress, "2001:db8::1");
    assert.deepEqual(logs[0]!.detail, { field: "email" });
    const ok = await verify(a.admin.token);
    assert.deepEqual([ok.ok, ok.rowsChecked, ok.firstBrokenId], [true, 5n, 0n]);
  });

  it("stores an event once when two writers (replicas) append it at the same time", async () => {
    const org = randomUUID();
    const row = (i: number) => ({
      eventId: randomUUID(), organizationId: org, actorType: "USER", actorId: randomUUID(), action: `race.${i}`, entityType: "", entityId: "",
      outcome: "SUCCESS", ip: null, userAgent: "", detail: {}, service: "test", occurredAt: new Date(),
    });
    const rows = Array.from({ length: 50 }, (_, i) => row(i));
    const sql = new Sql(mesh.host.db.sequelize);
    const results = await Promise.all([new ChainWriter(mesh.host.db, sql).append(rows), new ChainWriter(mesh.host.db, sql).append([...rows].reverse())]);
    assert.deepEqual(results.map((r) => r.inserted).sort(), [0, 50]);
    assert.equal(await stored(org), 50);
    assert.equal((await verify(mesh.staff, org)).ok, true);
  });

  it("stores overlapping batches of concurrent writers once each, in organisation and platform chains", async () => {
    // Both writers look up stored ids before either holds the lock; the second to lock must find
    // the first's copies among the rows committed since (the overlap), and only those.
    const org = randomUUID();
    const row = (organizationId: string | null, i: number) => ({
      eventId: randomUUID(), organizationId, actorType: "USER", actorId: randomUUID(), action: `overlap.${i}`, entityType: "", entityId: "",
      outcome: "SUCCESS", ip: null, userAgent: "", detail: { i }, service: "test", occurredAt: new Date(),
    });
    const sql = new Sql(mesh.host.db.sequelize);
    const all: string[] = [];
    for (let round = 0; round < 5; round++) {
      const shared = [...Array.from({ length: 20 }, (_, i) => row(org, i)), ...Array.from({ length: 5 }, (_, i) => row(null, i))];
      const first = [...shared, ...Array.from({ length: 10 }, (_, i) => row(org, 100 + i))];
      const second = [...Array.from({ length: 15 }, (_, i) => row(org, 200 + i)), row(null, 300), ...shared.slice(round * 3)];
      const results = await Promise.all([new ChainWriter(mesh.host.db, sql).append(first), new ChainWriter(mesh.host.db, sql).append(second)]);
      const distinct = new Set([...first, ...second].map((r) => r.eventId));
      assert.equal(results[0]!.inserted + results[1]!.inserted, distinct.size, `round ${round}: ${JSON.stringify(results)}`);
      all.push(...distinct);
    }
    const counted = await mesh.superSql<{ n: number; distinct: number }>(
      `SELECT count(*)::int AS n, count(DISTINCT event_id)::int AS distinct FROM audit.audit_logs WHERE event_id = ANY($1::uuid[])`, [all],
    );
    assert.deepEqual(counted[0], { n: all.length, distinct: all.length });
    assert.equal((await verify(mesh.staff, org)).ok, true);
    assert.equal((await verify(mesh.staff)).ok, true);
  });

  it("filters by actor, action prefix, entity and time, and pages with a cursor", async () => {
    const actor = randomUUID();
    const entity = randomUUID();
    await mesh.publishAudit(a.id, { actorId: actor, action: "role.assign", entityType: "role", entityId: entity, outcome: Outcome.DENIED, actorType: ActorType.DEVICE });
    await mesh.publishAudit(a.id, { actorId: actor, action: "role.create" });
    await eventually(async () => (await stored(a.id)) === 7, "7 rows");
    assert.equal((await list(a.admin.token, { actorId: actor })).logs.length, 2);
    assert.deepEqual((await list(a.admin.token, { action: "role." })).logs.map((l) => l.action).sort(), ["role.assign", "role.create"]);
    assert.equal((await list(a.admin.token, { action: "role" })).logs.length, 0);
    assert.equal((await list(a.admin.token, { entityType: "role", entityId: entity })).logs[0]!.outcome, Outcome.DENIED);
    assert.equal((await list(a.admin.token, { actorType: ActorType.DEVICE })).logs.length, 1);
    const future = { startTime: timestampFromDate(new Date(Date.now() + 3_600_000)) };
    assert.equal((await list(a.admin.token, { timeRange: future })).logs.length, 0);
    const past = { startTime: timestampFromDate(new Date(Date.now() - 3_600_000)) };
    assert.equal((await list(a.admin.token, { timeRange: past })).logs.length, 7);
    const seen: bigint[] = [];
    let token = "";
    do {
      const res = await list(a.admin.token, {}, { pageSize: 3, pageToken: token });
      seen.push(...res.logs.map((l) => l.id));
      token = res.page!.nextPageToken;
    } while (token);
    assert.equal(seen.length, 7);
    assert.deepEqual(seen, [...seen].sort((x, y) => (x > y ? -1 : 1)));
    const exported: bigint[] = [];
    for await (const batch of mesh.audit.exportAuditLogs({ filter: {} }, { bearer: a.admin.token })) exported.push(...batch.logs.map((l) => l.id));
    assert.deepEqual(exported, [...seen].reverse());
  });

  it("lets a user read only entries about themselves, and keeps organisations apart", async () => {
    const mine = await list(a.member.token);
    assert.ok(mine.logs.length >= 5 && mine.logs.every((l) => l.actorId === a.member.id || l.entityId === a.member.id));
    await assert.rejects(list(a.member.token, { actorId: a.admin.id }), code(status.PERMISSION_DENIED));
    await assert.rejects(mesh.audit.exportAuditLogs({}, { bearer: a.member.token })[Symbol.asyncIterator]().next(), code(status.PERMISSION_DENIED));
    await assert.rejects(verify(a.member.token), code(status.PERMISSION_DENIED));
    await assert.rejects(list(b.admin.token, { organizationId: a.id }), code(status.PERMISSION_DENIED));
    assert.ok((await list(b.admin.token)).logs.every((l) => l.organizationId === b.id));
    assert.equal((await list(mesh.staff, { organizationId: a.id })).logs.length, 7);
  });

  it("lists and verifies platform-level rows (no organisation) for platform operators only", async () => {
    const action = `platform.op${randomUUID().slice(0, 8)}`;
    const operator = randomUUID();
    for (let i = 0; i < 3; i++) await mesh.publishAudit("", { action, actorId: operator, ip: "192.0.2.7" });
    const platform = (token: string, filter: object = {}) => list(token, { platform: true, ...filter });
    const rows = await eventually(async () => {
      const { logs } = await platform(mesh.staff, { action });
      return logs.length === 3 ? logs : undefined;
    }, "3 platform rows");
    assert.ok(rows.every((l) => l.organizationId === "" && l.actorId === operator));
    assert.deepEqual(rows.map((l) => l.id), rows.map((l) => l.id).sort((x, y) => (x > y ? -1 : 1)));
    // Organisations' lists never show them, and a staff member's own organisation is not the platform.
    assert.ok(!(await list(mesh.staff, { organizationId: a.id })).logs.some((l) => l.action === action));
    const exported: string[] = [];
    for await (const batch of mesh.audit.exportAuditLogs({ filter: { platform: true, action } }, { bearer: mesh.staff })) exported.push(...batch.logs.map((l) => l.eventId));
    assert.deepEqual(exported, rows.map((l) => l.eventId).reverse());
    const verified = await mesh.audit.verifyChain({ platform: true }, { bearer: mesh.staff });
    assert.equal(verified.ok, true, verified.reason);
    assert.ok(verified.rowsChecked >= 3n);

    await assert.rejects(platform(a.admin.token), code(status.PERMISSION_DENIED));
    await assert.rejects(platform(a.member.token), code(status.PERMISSION_DENIED));
    await assert.rejects(mesh.audit.verifyChain({ platform: true }, { bearer: a.admin.token }), code(status.PERMISSION_DENIED));
    await assert.rejects(platform(mesh.staff, { organizationId: a.id }), code(status.INVALID_ARGUMENT, "filter.organization_id"));
  });

  it("refuses bad filters with INVALID_ARGUMENT naming the field", async () => {
    await assert.rejects(list(a.admin.token, { organizationId: "nope" }), code(status.INVALID_ARGUMENT));
    await assert.rejects(list(a.admin.token, {}, { pageSize: 1000 }), code(status.INVALID_ARGUMENT, "page.page_size"));
    await assert.rejects(list(a.admin.token, {}, { pageToken: "garbage" }), code(status.INVALID_ARGUMENT, "page.page_token"));
    await assert.rejects(list(a.admin.token, { action: "x".repeat(200) }), code(status.INVALID_ARGUMENT, "filter.action"));
    const now = new Date();
    await assert.rejects(list(a.admin.token, { timeRange: { startTime: timestampFromDate(now), endTime: timestampFromDate(new Date(now.getTime() - 1)) } }), code(status.INVALID_ARGUMENT, "filter.time_range.end_time"));
    await assert.rejects(list(a.admin.token, { outcome: 42 as Outcome }), code(status.INVALID_ARGUMENT, "filter.outcome"));
  });

  it("is append-only for the runtime roles", async () => {
    for (const role of ["withSystem", "withTenant"] as const) {
      const run = (sql: string) =>
        role === "withSystem"
          ? mesh.host.db.withSystem((tx) => mesh.host.db.sequelize.query(sql, { transaction: tx }))
          : mesh.host.db.withTenant(a.id, (tx) => mesh.host.db.sequelize.query(sql, { transaction: tx }));
      await assert.rejects(run(`UPDATE audit.audit_logs SET action = 'x'`), /permission denied/);
      await assert.rejects(run(`DELETE FROM audit.audit_logs`), /permission denied/);
      await assert.rejects(run(`TRUNCATE audit.audit_logs`), /permission denied|must be owner/);
    }
    assert.equal(await stored(a.id), 7);
  });

  it("VerifyChain finds a row changed, removed, or cut from the end directly in Postgres", async () => {
    const rows = await mesh.superSql<{ id: string }>(`SELECT id::text FROM audit.audit_logs WHERE organization_id = $1 ORDER BY audit_logs.id`, [a.id]);
    await mesh.superSql(`UPDATE audit.audit_logs SET detail = '{"field":"password"}' WHERE id = $1`, [rows[2]!.id]);
    let result = await verify(a.admin.token);
    assert.equal(result.ok, false);
    assert.equal(result.firstBrokenId, BigInt(rows[2]!.id));
    assert.match(result.reason, /hash mismatch/);
    assert.equal(result.rowsChecked, 2n);
    await mesh.superSql(`UPDATE audit.audit_logs SET detail = '{"field":"email"}' WHERE id = $1`, [rows[2]!.id]);
    assert.equal((await verify(a.admin.token)).ok, true);

    await mesh.superSql(`DELETE FROM audit.audit_logs WHERE id = $1`, [rows[3]!.id]);
    result = await verify(a.admin.token);
    assert.equal(result.firstBrokenId, BigInt(rows[4]!.id));
    assert.equal(result.reason, `prev_hash does not match row ${rows[2]!.id}`);

    await mesh.superSql(`DELETE FROM audit.audit_logs WHERE organization_id = $1`, [b.id]);
    result = await verify(b.admin.token);
    assert.equal(result.ok, false);
    assert.match(result.reason, /the chain's last, is missing/);
  });
});
