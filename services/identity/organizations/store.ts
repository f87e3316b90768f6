import type { Transaction } from "sequelize";
import type { JsonObject } from "@bufbuild/protobuf";
import type { Sql } from "../../runtime/db/index.js";

export type OrganizationStatusName = "PENDING" | "ACTIVE" | "SUSPENDED" | "PENDING_DEACTIVATION";

export interface OrganizationRow {
  id: string;
  code: string;
  name: string;
  legal_name: string;
  status: OrganizationStatusName;
  status_reason: string;
  timezone: string;
  settings: JsonObject;
  deactivation_requested_at: Date | null;
  created_at: Date;
  updated_at: Date;
  cursor_key: string;
}

// cursor_key: created_at at full (microsecond) precision, for keyset pagination.
const COLUMNS = "id, code, name, legal_name, status, status_reason, timezone, settings, deactivation_requested_at, created_at, updated_at, created_at::text AS cursor_key";

/** identity.organizations: platform-level rows, reached inside withSystem. */
export class OrganizationStore {
  constructor(private readonly sql: Sql) {}

  async insert(tx: Transaction, org: Pick<OrganizationRow, "id" | "code" | "name" | "legal_name" | "status" | "timezone" | "settings">): Promise<OrganizationRow> {
    return (await this.sql.row<OrganizationRow>(tx,
      `INSERT INTO identity.organizations (id, code, name, legal_name, status, timezone, settings)
       VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING ${COLUMNS}`,
      [org.id, org.code, org.name, org.legal_name, org.status, org.timezone, JSON.stringify(org.settings)]))!;
  }

  byId(tx: Transaction, id: string): Promise<OrganizationRow | undefined> {
    return this.sql.row(tx, `SELECT ${COLUMNS} FROM identity.organizations WHERE id = $1`, [id]);
  }

  byCode(tx: Transaction, code: string): Promise<OrganizationRow | undefined> {
    return this.sql.row(tx, `SELECT ${COLUMNS} FROM identity.organizations WHERE lower(code) = lower($1)`, [code]);
  }

  list(tx: Transaction, filter: { status?: OrganizationStatusName; query?: string; after?: { key: string; id: string }; limit: number }): Promise<OrganizationRow[]> {
    const where: string[] = [];
    const bind: unknown[] = [];
    if (filter.status) where.push(`status = $${bind.push(filter.status)}`);
    if (filter.query) where.push(`(code ILIKE $${bind.push(`%${escapeLike(filter.query)}%`)} OR name ILIKE $${bind.length})`);
    if (filter.after) where.push(`(created_at, id) > ($${bind.push(filter.after.key)}::timestamptz, $${bind.push(filter.after.id)}::uuid)`);
    return this.sql.rows(tx,
      `SELECT ${COLUMNS} FROM identity.organizations ${where.length ? `WHERE ${where.join(" AND ")}` : ""}
       ORDER BY created_at, id LIMIT $${bind.push(filter.limit + 1)}`, bind);
  }

  async update(tx: Transaction, id: string, changes: Partial<Pick<OrganizationRow, "name" | "legal_name" | "timezone" | "settings">>): Promise<OrganizationRow | undefined> {
    const sets: string[] = [];
    const bind: unknown[] = [id];
    for (const [column, value] of Object.entries(changes)) {
      if (value === undefined) continue;
      sets.push(`${column} = $${bind.push(column === "settings" ? JSON.stringify(value) : value)}`);
    }
    if (sets.length === 0) return this.byId(tx, id);
    return this.sql.row(tx, `UPDATE identity.organizations SET ${sets.join(", ")}, updated_at = now() WHERE id = $1 RETURNING ${COLUMNS}`, bind);
  }

  /** Moves the status only if it is still `from` (a concurrent change makes this return undefined). */
  transition(tx: Transaction, id: string, from: OrganizationStatusName[], to: OrganizationStatusName, reason: string): Promise<OrganizationRow | undefined> {
    return this.sql.row(tx,
      `UPDATE identity.organizations
          SET status = $2, status_reason = $3, updated_at = now(),
              deactivation_requested_at = CASE WHEN $2 = 'PENDING_DEACTIVATION' THEN now() ELSE NULL END
        WHERE id = $1 AND status = ANY($4::text[]) RETURNING ${COLUMNS}`,
      [id, to, reason, from]);
  }

  /** Organisations whose deletion grace period is over. */
  dueForDeletion(tx: Transaction, requestedBefore: Date): Promise<OrganizationRow[]> {
    return this.sql.rows(tx,
      `SELECT ${COLUMNS} FROM identity.organizations WHERE status = 'PENDING_DEACTIVATION' AND deactivation_requested_at < $1`, [requestedBefore]);
  }

  /** Suspended and deactivating organisations: their tokens must be refused. */
  blocked(tx: Transaction): Promise<Pick<OrganizationRow, "id" | "status">[]> {
    return this.sql.rows(tx, `SELECT id, status FROM identity.organizations WHERE status IN ('SUSPENDED', 'PENDING_DEACTIVATION')`);
  }

  async delete(tx: Transaction, id: string): Promise<void> {
    await this.sql.execute(tx, "DELETE FROM identity.organizations WHERE id = $1", [id]);
  }
}

export function escapeLike(text: string): string {
  return text.replace(/[\\%_]/g, (c) => `\\${c}`);
}
