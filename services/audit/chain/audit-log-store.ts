import type { Database, Sql } from "../../runtime/db/index.js";
import { whereTime } from "../handlers/request.js";
import type { TimeBounds } from "./chain-verifier.js";
import { STORED_COLUMNS, type StoredRow } from "./stored-row.js";

export interface AuditLogQuery {
  organizationId: string;
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

/** Reads of audit_logs, always inside the organisation's tenant transaction (RLS). */
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
    const bind: unknown[] = [query.organizationId];
    const where = ["organization_id = $1"];
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
    return this.db.withTenant(query.organizationId, (tx) =>
      this.sql.rows<StoredRow>(tx, `SELECT ${STORED_COLUMNS} FROM audit.audit_logs WHERE ${where.join(" AND ")} ORDER BY audit_logs.id ${order} LIMIT ${limit}`, bind),
    );
  }
}
