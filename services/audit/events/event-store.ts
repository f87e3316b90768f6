import { randomUUID } from "node:crypto";
import type { Transaction } from "sequelize";
import type { Sql } from "../../runtime/db/index.js";
import type { JsonValue } from "../chain/canonical.js";

export interface NewEvent {
  id: string;
  organizationId: string | null;
  type: string;
  severity: string;
  referenceId: string;
  metadata: { [key: string]: JsonValue };
  occurredAt: Date;
}

export interface EventRow {
  id: string;
  seq: string;
  organization_id: string | null;
  event_type: string;
  severity: string;
  reference_id: string;
  metadata: { [key: string]: JsonValue };
  occurred_at: Date;
  acknowledged_by: string | null;
  acknowledged_at: Date | null;
  resolved_by: string | null;
  resolved_at: Date | null;
  resolution: string;
  created_at: Date;
}

export const EVENT_COLUMNS = `id, seq::text, organization_id, event_type, severity, reference_id, metadata, occurred_at, acknowledged_by,
  acknowledged_at, resolved_by, resolved_at, resolution, created_at`;

export const SEVERITIES = ["INFO", "WARNING", "ERROR", "CRITICAL"] as const;

/**
 * Stores an event once (its id is the deduplication key) and, in the same transaction, the
 * notifications its organisation's enabled rules ask for: so an event is never stored without its
 * deliveries, nor delivered twice. Events of one organisation are inserted one transaction at a
 * time (advisory lock), so their seq order is their commit order and a dashboard resuming "after
 * seq N" never skips one that committed late.
 */
export class EventStore {
  constructor(private readonly sql: Sql) {}

  /** True when the event was new. */
  async record(tx: Transaction, event: NewEvent): Promise<boolean> {
    await this.sql.execute(tx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, [`audit.events.${event.organizationId ?? "platform"}`]);
    const inserted = await this.sql.row<{ id: string }>(
      tx,
      `INSERT INTO audit.events (id, organization_id, event_type, severity, reference_id, metadata, occurred_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING RETURNING id`,
      [event.id, event.organizationId, event.type, event.severity, event.referenceId, JSON.stringify(event.metadata), event.occurredAt.toISOString()],
    );
    if (!inserted || !event.organizationId) return Boolean(inserted);
    const rules = await this.sql.rows<{ id: string; channel: string; target: string; signing_secret: string }>(
      tx,
      `SELECT id, channel, target, signing_secret FROM audit.notification_rules
       WHERE organization_id = $1 AND enabled AND (event_type = $2 OR event_type = '*')`,
      [event.organizationId, event.type],
    );
    if (rules.length > 0) {
      // A dashboard "delivery" is the event appearing in SubscribeNotifications: recorded as sent.
      await this.sql.execute(
        tx,
        `INSERT INTO audit.notifications (id, organization_id, event_id, rule_id, channel, target, signing_secret, status, attempts, sent_at)
         SELECT n.id, $1, $2, n.rule_id, n.channel, n.target, n.secret,
                CASE WHEN n.channel = 'DASHBOARD' THEN 'SENT' ELSE 'PENDING' END,
                CASE WHEN n.channel = 'DASHBOARD' THEN 1 ELSE 0 END,
                CASE WHEN n.channel = 'DASHBOARD' THEN now() END
         FROM unnest($3::uuid[], $4::uuid[], $5::text[], $6::text[], $7::text[]) AS n (id, rule_id, channel, target, secret)`,
        [event.organizationId, event.id, rules.map(() => randomUUID()), rules.map((r) => r.id), rules.map((r) => r.channel), rules.map((r) => r.target), rules.map((r) => r.signing_secret)],
      );
    }
    return true;
  }
}
