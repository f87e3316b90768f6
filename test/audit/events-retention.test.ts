import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { loadAuditSettings } from "../../services/audit/config.js";
import { AuditMaintenance } from "../../services/audit/maintenance/maintenance.js";
import { createLogger } from "../../services/runtime/logger.js";
import { auditMesh, type AuditMesh } from "./fixture.js";

const DAY = 86_400_000;

describe("audit: events and notifications are pruned by age", function () {
  this.timeout(60_000);
  let mesh: AuditMesh;

  before(async () => {
    mesh = await auditMesh();
  });

  /** Through the system role: events and notifications are tenant tables with forced row-level security. */
  const system = <T extends object>(sql: string, bind: unknown[] = []) =>
    mesh.host.db.withSystem((tx) => mesh.host.db.sequelize.query(sql, { bind, transaction: tx, type: "SELECT" as never }) as unknown as Promise<T[]>);

  async function event(org: string, ageDays: number): Promise<string> {
    const id = randomUUID();
    await system(
      `INSERT INTO audit.events (id, organization_id, event_type, severity, occurred_at, created_at) VALUES ($1, $2, 'UNKNOWN_FACE', 'WARNING', $3, $3)`,
      [id, org, new Date(Date.now() - ageDays * DAY).toISOString()],
    );
    return id;
  }

  async function notification(org: string, eventId: string, status: "PENDING" | "SENT" | "FAILED", ageDays: number): Promise<string> {
    const id = randomUUID();
    await system(
      `INSERT INTO audit.notifications (id, organization_id, event_id, channel, status, next_attempt_at, created_at) VALUES ($1, $2, $3, 'DASHBOARD', $4, 'infinity', $5)`,
      [id, org, eventId, status, new Date(Date.now() - ageDays * DAY).toISOString()],
    );
    return id;
  }

  it("removes events past their retention with their notifications, and delivered notifications past theirs", async () => {
    const org = randomUUID();
    const old = await event(org, 40);
    const oldPending = await notification(org, old, "PENDING", 40);
    const middle = await event(org, 20);
    const middleSent = await notification(org, middle, "SENT", 20);
    const middleFailed = await notification(org, middle, "FAILED", 20);
    const middlePending = await notification(org, middle, "PENDING", 20);
    const recent = await event(org, 1);
    const recentSent = await notification(org, recent, "SENT", 1);

    const settings = { ...loadAuditSettings({}).maintenance, eventsRetentionDays: 30, notificationsRetentionDays: 10 };
    const report = await new AuditMaintenance(mesh.host.db.sequelize, createLogger("silent"), settings).run();
    assert.ok(report.eventsRemoved >= 1 && report.notificationsRemoved >= 2, JSON.stringify(report));

    const events = (await system<{ id: string }>(`SELECT id FROM audit.events WHERE organization_id = $1`, [org])).map((r) => r.id).sort();
    assert.deepEqual(events, [middle, recent].sort());
    const notifications = (await system<{ id: string }>(`SELECT id FROM audit.notifications WHERE organization_id = $1`, [org])).map((r) => r.id).sort();
    assert.deepEqual(notifications, [middlePending, recentSent].sort());
    assert.ok(![oldPending, middleSent, middleFailed].some((id) => notifications.includes(id)));
  });

  it("refuses an events retention shorter than the EVENTS stream keeps events", () => {
    assert.throws(() => loadAuditSettings({ ROLLCALL_AUDIT_EVENTS_RETENTION_DAYS: "3" }), /ROLLCALL_AUDIT_EVENTS_RETENTION_DAYS/);
  });
});
