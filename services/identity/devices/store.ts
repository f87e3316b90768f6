import type { Transaction } from "sequelize";
import type { Sql } from "../../runtime/db/index.js";

export type DirectionName = "IN" | "OUT" | "BOTH";

export interface DeviceRow {
  id: string;
  organization_id: string;
  name: string;
  location: string;
  direction: DirectionName;
  secret_hash: string;
  is_active: boolean;
  last_seen_at: Date | null;
  created_at: Date;
  updated_at: Date;
  cursor_key: string;
}

const COLUMNS = "id, organization_id, name, location, direction, secret_hash, is_active, last_seen_at, created_at, updated_at, created_at::text AS cursor_key";

/** identity.devices: camera agents, tenant rows. */
export class DeviceStore {
  constructor(private readonly sql: Sql) {}

  async insert(tx: Transaction, d: Pick<DeviceRow, "id" | "organization_id" | "name" | "location" | "direction" | "secret_hash">): Promise<DeviceRow> {
    return (await this.sql.row<DeviceRow>(tx,
      `INSERT INTO identity.devices (id, organization_id, name, location, direction, secret_hash) VALUES ($1, $2, $3, $4, $5, $6) RETURNING ${COLUMNS}`,
      [d.id, d.organization_id, d.name, d.location, d.direction, d.secret_hash]))!;
  }

  byId(tx: Transaction, id: string): Promise<DeviceRow | undefined> {
    return this.sql.row(tx, `SELECT ${COLUMNS} FROM identity.devices WHERE id = $1`, [id]);
  }

  list(tx: Transaction, filter: { isActive?: boolean; after?: { key: string; id: string }; limit: number }): Promise<DeviceRow[]> {
    const where: string[] = [];
    const bind: unknown[] = [];
    if (filter.isActive !== undefined) where.push(`is_active = $${bind.push(filter.isActive)}`);
    if (filter.after) where.push(`(created_at, id) > ($${bind.push(filter.after.key)}::timestamptz, $${bind.push(filter.after.id)}::uuid)`);
    return this.sql.rows(tx, `SELECT ${COLUMNS} FROM identity.devices ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY created_at, id LIMIT $${bind.push(filter.limit + 1)}`, bind);
  }

  update(tx: Transaction, id: string, changes: Partial<Pick<DeviceRow, "name" | "location" | "direction" | "is_active" | "secret_hash" | "last_seen_at">>): Promise<DeviceRow | undefined> {
    const bind: unknown[] = [id];
    const sets = Object.entries(changes).filter(([, v]) => v !== undefined).map(([column, value]) => `${column} = $${bind.push(value)}`);
    return this.sql.row(tx, `UPDATE identity.devices SET ${[...sets, "updated_at = now()"].join(", ")} WHERE id = $1 RETURNING ${COLUMNS}`, bind);
  }
}
