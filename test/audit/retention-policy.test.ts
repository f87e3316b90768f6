import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { status } from "@grpc/grpc-js";
import type { AppError } from "../../services/runtime/errors.js";
import { auditMesh, eventually, type AuditMesh } from "./fixture.js";

const code = (expected: status, field?: string) => (err: unknown) => {
  const e = err as AppError;
  assert.equal(e.code, expected, `expected ${status[expected]}, got ${status[e.code]}: ${e.message}`);
  if (field) assert.ok(e.message.startsWith(`${field}:`), e.message);
  return true;
};

describe("audit: retention policy over the API", function () {
  this.timeout(60_000);
  let mesh: AuditMesh;

  before(async () => {
    mesh = await auditMesh();
  });

  const get = (token: string, organizationId = "") => mesh.audit.getRetentionPolicy({ organizationId }, { bearer: token });
  const set = (token: string, req: { organizationId?: string; retentionDays?: number; useDefault?: boolean }) => mesh.audit.setRetentionPolicy(req, { bearer: token });

  it("shows the platform default until an administrator sets the organisation's own, and back", async () => {
    const a = mesh.orgs[0];
    const before = (await get(a.admin.token)).policy!;
    assert.deepEqual([before.organizationId, before.retentionDays, before.isDefault, before.updatedAt], [a.id, 400, true, undefined]);

    const changed = (await set(a.admin.token, { retentionDays: 90 })).policy!;
    assert.deepEqual([changed.retentionDays, changed.isDefault], [90, false]);
    assert.ok(changed.updatedAt);
    assert.deepEqual((await get(a.admin.token)).policy!.retentionDays, 90);
    const stored = await mesh.superSql<{ retention_days: number }>(`SELECT retention_days FROM audit.retention_policies WHERE organization_id = $1`, [a.id]);
    assert.deepEqual(stored, [{ retention_days: 90 }]);
    // The change is itself audited, in the organisation's trail.
    await eventually(async () => {
      const { logs } = await mesh.audit.listAuditLogs({ filter: { action: "audit.retention.set" } }, { bearer: a.admin.token });
      return logs.length === 1 && logs[0]!.actorId === a.admin.id && logs[0]!.detail?.retentionDays === 90;
    }, "the audit.retention.set row");

    const reset = (await set(a.admin.token, { useDefault: true })).policy!;
    assert.deepEqual([reset.retentionDays, reset.isDefault, reset.updatedAt], [400, true, undefined]);
    assert.equal((await mesh.superSql(`SELECT 1 FROM audit.retention_policies WHERE organization_id = $1`, [a.id])).length, 0);
  });

  it("needs audit_logs with scope ALL in the organisation, or a platform operator", async () => {
    const [a, b] = mesh.orgs;
    await assert.rejects(get(a.member.token), code(status.PERMISSION_DENIED));
    await assert.rejects(set(a.member.token, { retentionDays: 30 }), code(status.PERMISSION_DENIED));
    await assert.rejects(set(b.admin.token, { organizationId: a.id, retentionDays: 30 }), code(status.PERMISSION_DENIED));
    const other = randomUUID();
    assert.equal((await set(mesh.staff, { organizationId: other, retentionDays: 30 })).policy!.retentionDays, 30);
    assert.equal((await get(mesh.staff, other)).policy!.retentionDays, 30);
    assert.equal((await get(b.admin.token)).policy!.isDefault, true);
  });

  it("refuses bad values with INVALID_ARGUMENT naming the field", async () => {
    const a = mesh.orgs[0];
    await assert.rejects(set(a.admin.token, { retentionDays: 0 }), code(status.INVALID_ARGUMENT, "retention_days"));
    await assert.rejects(set(a.admin.token, { retentionDays: -5 }), code(status.INVALID_ARGUMENT, "retention_days"));
    await assert.rejects(set(a.admin.token, { retentionDays: 36_501 }), code(status.INVALID_ARGUMENT, "retention_days"));
    await assert.rejects(set(a.admin.token, { retentionDays: 30, useDefault: true }), code(status.INVALID_ARGUMENT, "retention_days"));
    await assert.rejects(set(a.admin.token, { organizationId: "nope", retentionDays: 30 }), code(status.INVALID_ARGUMENT, "organization_id"));
    await assert.rejects(get(a.admin.token, "nope"), code(status.INVALID_ARGUMENT, "organization_id"));
  });
});
