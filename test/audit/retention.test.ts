import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { loadAuditSettings } from "../../services/audit/config.js";
import { AuditMaintenance } from "../../services/audit/maintenance/maintenance.js";
import { createLogger } from "../../services/runtime/logger.js";
import { auditMesh, eventually, type AuditMesh } from "./fixture.js";

// Runs last (file order): it moves the clock of maintenance far ahead, dropping this month's partition.
describe("audit: partitions and retention", function () {
  this.timeout(60_000);
  let mesh: AuditMesh;
  before(async () => {
    mesh = await auditMesh();
  });

  const stored = (org: string) => mesh.superSql<{ n: number }>(`SELECT count(*)::int AS n FROM audit.audit_logs WHERE organization_id = $1`, [org]).then((r) => r[0]!.n);
  const verify = (token: string, org = "") => mesh.audit.verifyChain({ organizationId: org }, { bearer: token });

  it("creates monthly partitions ahead and applies per-organisation retention, anchoring the chain", async () => {
    const parts = await mesh.superSql<{ relname: string }>(`SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'audit.audit_logs'::regclass ORDER BY 1`);
    const now = new Date();
    const month = (offset: number) => { const d = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + offset, 1)); return `audit_logs_y${d.getUTCFullYear()}m${String(d.getUTCMonth() + 1).padStart(2, "0")}`; };
    for (let i = 0; i <= 3; i++) assert.ok(parts.some((p) => p.relname === month(i)), `partition ${month(i)} exists`);
    const c = mesh.orgs[0];
    await mesh.publishAudit(c.id, { action: "kept.one" });
    await eventually(async () => (await stored(c.id)) > 0, "a row of another organisation");
    // Organisation b gets a short retention; a keeps the default.
    const org = randomUUID();
    await mesh.publishAudit(org, { action: "old.one" });
    await mesh.publishAudit(org, { action: "old.two" });
    await eventually(async () => (await stored(org)) === 2, "2 rows");
    await mesh.audit.setRetentionPolicy({ organizationId: org, retentionDays: 1 }, { bearer: mesh.staff });
    // Setting it is audited in the organisation's own trail: a third row.
    await eventually(async () => (await stored(org)) === 3, "the audit.retention.set row");
    const maintenance = new AuditMaintenance(mesh.host.db.sequelize, createLogger("silent"), { ...loadAuditSettings({}).maintenance, monthsAhead: 3, defaultRetentionDays: 400 });
    const report = await maintenance.run(new Date(Date.now() + 2 * 86_400_000));
    assert.equal(report.rowsRemoved, 3);
    assert.equal(await stored(org), 0);
    assert.ok((await stored(c.id)) > 0, "other organisations keep their rows");
    await mesh.publishAudit(org, { action: "new.one" });
    await eventually(async () => (await stored(org)) === 1, "1 new row");
    const verified = await verify(mesh.staff, org);
    assert.deepEqual([verified.ok, verified.rowsChecked], [true, 1n], verified.reason);

    // Past the longest retention, whole months go (anchored), and the chains still verify.
    const later = await maintenance.run(new Date(Date.now() + 500 * 86_400_000));
    assert.ok(later.partitionsDropped.includes(month(0)));
    const anchors = await mesh.superSql<{ n: number }>(`SELECT count(*)::int AS n FROM audit.chain_anchors WHERE chain = $1`, [org]);
    assert.equal(anchors[0]!.n, 2);
    assert.deepEqual([(await verify(mesh.staff, org)).ok], [true]);
  });
});
