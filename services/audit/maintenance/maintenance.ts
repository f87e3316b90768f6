import { QueryTypes, type Sequelize, type Transaction } from "sequelize";
import type { Logger } from "../../runtime/logger.js";
import { SYSTEM_ROLE } from "../../runtime/db/index.js";
import { MAINTENANCE_ROLE } from "../migrations.js";
import { PLATFORM_CHAIN } from "../chain/canonical.js";

export interface MaintenanceSettings {
  /** Monthly partitions kept ready beyond the current month. */
  monthsAhead: number;
  /** Audit retention of organisations without a policy of their own (and of platform rows). */
  defaultRetentionDays: number;
  /** Other tables: system logs and health history. */
  housekeepingDays: number;
  /** Events (with their notifications) older than this are removed; longer than the EVENTS stream keeps them, so none is stored twice. */
  eventsRetentionDays: number;
  /** Sent or failed notifications older than this are removed (pending ones stay until their event goes). */
  notificationsRetentionDays: number;
}

export interface MaintenanceReport {
  partitionsCreated: string[];
  partitionsDropped: string[];
  rowsRemoved: number;
  eventsRemoved: number;
  notificationsRemoved: number;
}

const DAY = 86_400_000;

/**
 * Partitions and retention. Runs as the login that owns the schema (DDL), never as a runtime role,
 * one replica at a time (advisory lock). Partitions are shared by all organisations, so:
 *  - a whole month is dropped only once it is past the LONGEST retention of any organisation;
 *  - an organisation with a shorter retention has its expired rows deleted through the
 *    maintenance role (the only role allowed to DELETE), which removes a prefix of its chain.
 * Either way the chain is anchored first: the last removed row's id and hash go to chain_anchors,
 * and VerifyChain starts from the anchor instead of the genesis hash.
 */
export class AuditMaintenance {
  constructor(private readonly sequelize: Sequelize, private readonly logger: Logger, private readonly settings: MaintenanceSettings) {}

  async run(now = new Date()): Promise<MaintenanceReport> {
    return this.sequelize.transaction(async (tx) => {
      await this.query(tx, `SELECT pg_advisory_xact_lock(hashtextextended('audit.maintenance', 0))`);
      const report: MaintenanceReport = { partitionsCreated: [], partitionsDropped: [], rowsRemoved: 0, eventsRemoved: 0, notificationsRemoved: 0 };
      await this.createPartitions(tx, now, report);
      await this.applyRetention(tx, now, report);
      const housekeeping = new Date(now.getTime() - this.settings.housekeepingDays * DAY).toISOString();
      await this.query(tx, `DELETE FROM audit.system_health WHERE recorded_at < $1`, [housekeeping]);
      await this.query(tx, `DELETE FROM audit.system_logs WHERE created_at < $1`, [housekeeping]);
      await this.pruneEvents(tx, now, report);
      if (report.partitionsCreated.length + report.partitionsDropped.length + report.rowsRemoved + report.eventsRemoved + report.notificationsRemoved > 0) this.logger.info(report, "audit maintenance done");
      return report;
    });
  }

  private async createPartitions(tx: Transaction, now: Date, report: MaintenanceReport): Promise<void> {
    for (let i = 0; i <= this.settings.monthsAhead; i++) {
      const from = monthStart(now, i);
      const name = partitionName(from);
      const exists = await this.query<{ n: number }>(tx, `SELECT count(*)::int AS n FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace WHERE s.nspname = 'audit' AND c.relname = $1`, [name]);
      if (exists[0]!.n > 0) continue;
      await this.query(tx, `CREATE TABLE audit.${name} PARTITION OF audit.audit_logs FOR VALUES FROM ('${from.toISOString()}') TO ('${monthStart(now, i + 1).toISOString()}')`);
      report.partitionsCreated.push(name);
    }
  }

  private async applyRetention(tx: Transaction, now: Date, report: MaintenanceReport): Promise<void> {
    const policies = await this.query<{ chain: string; days: number }>(
      tx,
      `SELECT h.chain, COALESCE(p.retention_days, $1)::int AS days FROM audit.chain_heads h
       LEFT JOIN audit.retention_policies p ON p.organization_id::text = h.chain`,
      [this.settings.defaultRetentionDays],
    );
    const longest = Math.max(this.settings.defaultRetentionDays, ...policies.map((p) => p.days));
    const globalCutoff = new Date(now.getTime() - longest * DAY);
    for (const partition of await this.partitions(tx)) {
      if (partition.to > globalCutoff) continue;
      const anchored = await this.query<{ n: string }>(
        tx,
        `WITH doomed AS (SELECT COALESCE(organization_id::text, 'platform') AS chain, id, hash FROM audit.${partition.name}),
         anchors AS (SELECT DISTINCT ON (chain) chain, id, hash, count(*) OVER (PARTITION BY chain) AS n FROM doomed ORDER BY chain, id DESC)
         INSERT INTO audit.chain_anchors (chain, anchor_id, anchor_hash, rows_removed, removed_before, reason)
         SELECT chain, id, hash, n, $1, 'partition ${partition.name} dropped' FROM anchors ON CONFLICT DO NOTHING RETURNING rows_removed::text AS n`,
        [partition.to.toISOString()],
      );
      await this.query(tx, `DROP TABLE audit.${partition.name}`);
      report.partitionsDropped.push(partition.name);
      report.rowsRemoved += anchored.reduce((sum, a) => sum + Number(a.n), 0);
    }
    await this.query(tx, `SET LOCAL ROLE ${MAINTENANCE_ROLE}`);
    for (const { chain, days } of policies) {
      if (days >= longest || chain === PLATFORM_CHAIN) continue;
      const cutoff = new Date(now.getTime() - days * DAY).toISOString();
      const [anchor] = await this.query<{ n: string }>(
        tx,
        `WITH doomed AS (SELECT id, hash FROM audit.audit_logs WHERE organization_id = $1::uuid AND created_at < $2)
         INSERT INTO audit.chain_anchors (chain, anchor_id, anchor_hash, rows_removed, removed_before, reason)
         SELECT $1, id, hash, (SELECT count(*) FROM doomed), $2, 'organisation retention of ' || $3::text || ' days'
         FROM doomed ORDER BY id DESC LIMIT 1 RETURNING rows_removed::text AS n`,
        [chain, cutoff, days],
      );
      if (!anchor) continue;
      await this.query(tx, `DELETE FROM audit.audit_logs WHERE organization_id = $1::uuid AND created_at < $2`, [chain, cutoff]);
      report.rowsRemoved += Number(anchor.n);
    }
    await this.query(tx, `RESET ROLE`);
  }

  /** Events and notifications are tenant tables (forced RLS): removed as the system role, which sees every organisation's. */
  private async pruneEvents(tx: Transaction, now: Date, report: MaintenanceReport): Promise<void> {
    const before = (days: number) => new Date(now.getTime() - days * DAY).toISOString();
    await this.query(tx, `SET LOCAL ROLE ${SYSTEM_ROLE}`);
    const [notifications] = await this.query<{ n: number }>(
      tx,
      `WITH gone AS (DELETE FROM audit.notifications WHERE created_at < $1 AND status <> 'PENDING' RETURNING 1) SELECT count(*)::int AS n FROM gone`,
      [before(this.settings.notificationsRetentionDays)],
    );
    // Their remaining notifications go with them (ON DELETE CASCADE).
    const [events] = await this.query<{ n: number }>(
      tx,
      `WITH gone AS (DELETE FROM audit.events WHERE created_at < $1 RETURNING 1) SELECT count(*)::int AS n FROM gone`,
      [before(this.settings.eventsRetentionDays)],
    );
    await this.query(tx, `RESET ROLE`);
    report.notificationsRemoved += notifications!.n;
    report.eventsRemoved += events!.n;
  }

  private async partitions(tx: Transaction): Promise<{ name: string; to: Date }[]> {
    const rows = await this.query<{ name: string }>(
      tx,
      `SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent
       JOIN pg_namespace s ON s.oid = p.relnamespace WHERE s.nspname = 'audit' AND p.relname = 'audit_logs' ORDER BY c.relname`,
    );
    return rows.flatMap(({ name }) => {
      const m = /^audit_logs_y(\d{4})m(\d{2})$/.exec(name);
      return m ? [{ name, to: new Date(Date.UTC(Number(m[1]), Number(m[2]), 1)) }] : [];
    });
  }

  private query<T extends object>(tx: Transaction, sql: string, bind: unknown[] = []): Promise<T[]> {
    return this.sequelize.query<T>(sql, { bind, transaction: tx, type: QueryTypes.SELECT });
  }
}

export function monthStart(date: Date, monthsLater = 0): Date {
  return new Date(Date.UTC(date.getUTCFullYear(), date.getUTCMonth() + monthsLater, 1));
}

export function partitionName(monthStartDate: Date): string {
  return `audit_logs_y${monthStartDate.getUTCFullYear()}m${String(monthStartDate.getUTCMonth() + 1).padStart(2, "0")}`;
}
