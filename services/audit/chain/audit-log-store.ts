import type { Transaction } from "sequelize";
import type { Database, Sql } from "../../runtime/db/index.js";
import { whereTime } from "../handlers/request.js";
import type { TimeBounds } from "./chain-verifier.js";
import { STORED_COLUMNS, type StoredRow } from "./stored-row.js";

export interface AuditLogQuery {
  /** null: the platform-level rows (no organisation). */
  organizationId: string | null;
  actorId?: string;
  actorType?: string;
  /** Exact, or a prefix when it ends in ".". */
  action?: string;
  entityType?: string;
  entityId?: string;
  outcome?: string;
  time: TimeBounds;
  /** Only rows about this user: done by them, or with them as the entity. */
  aboutUser?: string;
}

/**
 * Reads of audit_logs: an organisation's inside its tenant transaction (RLS); platform-level rows
 * (no organisation) in a system transaction, for callers the handler checked are platform operators.
 */
export class AuditLogStore {
  constructor(private readonly db: Database, private readonly sql: Sql) {}

  /** Newest first, `limit + 1` rows after the cursor (an id). */
  newest(query: AuditLogQuery, limit: number, beforeId: string | undefined): Promise<StoredRow[]> {
    return this.select(query, beforeId ? { op: "<", id: beforeId } : undefined, "DESC", limit + 1);
  }

  /** Oldest first, after an id. */
  oldest(query: AuditLogQuery, limit: number, afterId: string | undefined): Promise<StoredRow[]> {
    return this.select(query, afterId ? { op: ">", id: afterId } : undefined, "ASC", limit);
  }

  private select(query: AuditLogQuery, cursor: { op: "<" | ">"; id: string } | undefined, order: "ASC" | "DESC", limit: number): Promise<StoredRow[]> {
    const bind: unknown[] = [];
    const where = [chainClause(query.organizationId, bind)];
    const eq = (column: string, value: string | undefined) => {
      if (value) where.push(`${column} = $${bind.push(value)}`);
    };
    eq("actor_id", query.actorId);
    eq("actor_type", query.actorType);
    eq("entity_type", query.entityType);
    eq("entity_id", query.entityId);
    eq("outcome", query.outcome);
    if (query.action?.endsWith(".")) where.push(`starts_with(action, $${bind.push(query.action)})`);
    else eq("action", query.action);
    if (query.aboutUser) {
      const n = bind.push(query.aboutUser);
      where.push(`(actor_id = $${n} OR (entity_type = 'user' AND entity_id = $${n}))`);
    }
    whereTime("created_at", query.time, where, bind);
    if (cursor) where.push(`id ${cursor.op} $${bind.push(cursor.id)}`);
    return inChainScope(this.db, query.organizationId, (tx) =>
      this.sql.rows<StoredRow>(tx, `SELECT ${STORED_COLUMNS} FROM audit.audit_logs WHERE ${where.join(" AND ")} ORDER BY audit_logs.id ${order} LIMIT ${limit}`, bind),
    );
  }
}

/** The rows of one chain: an organisation's, or (null) the platform's. Binds the organisation. */
export function chainClause(organizationId: string | null, bind: unknown[]): string {
  return organizationId === null ? "organization_id IS NULL" : `organization_id = $${bind.push(organizationId)}`;
}

/** A transaction that sees the chain's rows: the organisation's tenant one, or a system one for the platform chain. */
export function inChainScope<T>(db: Database, organizationId: string | null, fn: (tx: Transaction) => Promise<T>): Promise<T> {
  return organizationId === null ? db.withSystem(fn) : db.withTenant(organizationId, fn);
}
