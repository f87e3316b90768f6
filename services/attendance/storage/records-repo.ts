import { randomUUID } from "node:crypto";
import type { Transaction } from "sequelize";
import type { Sql } from "../../runtime/db/index.js";
import type { Cursor } from "../../runtime/pagination.js";
import type { DaySummary, Source } from "../domain/day.js";

export interface RecordRow {
  id: string;
  organization_id: string;
  user_id: string;
  attendance_date: string;
  first_in_time: Date | null;
  last_out_time: Date | null;
  total_minutes: number;
  open_interval: boolean;
  source: Source;
  confidence: string;
  corrected_by: string | null;
  created_at: Date;
  updated_at: Date;
}

export interface RecordFilter {
  from: string;
  to: string;
  /** undefined: every user; an empty list: nobody. */
  userIds?: string[];
  after?: Cursor;
  limit: number;
}

const COLUMNS = `id, organization_id, user_id, attendance_date::text AS attendance_date, first_in_time, last_out_time, total_minutes,
  open_interval, source, confidence, corrected_by, created_at, updated_at`;

/** attendance_records, always inside a tenant transaction. */
export class RecordsRepo {
  constructor(private readonly sql: Sql) {}

  /**
   * Writes a day's record from its events. Idempotent: a replica closing the same day again
   * rewrites the same values. A record an operator corrected keeps its times.
   */
  async upsertComputed(tx: Transaction, organizationId: string, userId: string, date: string, day: DaySummary): Promise<string> {
    const row = await this.sql.row<{ id: string }>(
      tx,
      `INSERT INTO attendance.attendance_records
         (id, organization_id, user_id, attendance_date, first_in_time, last_out_time, total_minutes, open_interval, source, confidence)
       VALUES ($1, $2, $3, $4::date, $5, $6, $7, $8, $9, $10)
       ON CONFLICT (organization_id, user_id, attendance_date) DO UPDATE SET
         first_in_time = CASE WHEN attendance_records.corrected_by IS NULL THEN EXCLUDED.first_in_time ELSE attendance_records.first_in_time END,
         last_out_time = CASE WHEN attendance_records.corrected_by IS NULL THEN EXCLUDED.last_out_time ELSE attendance_records.last_out_time END,
         total_minutes = CASE WHEN attendance_records.corrected_by IS NULL THEN EXCLUDED.total_minutes ELSE attendance_records.total_minutes END,
         open_interval = CASE WHEN attendance_records.corrected_by IS NULL THEN EXCLUDED.open_interval ELSE attendance_records.open_interval END,
         source = CASE WHEN attendance_records.corrected_by IS NULL THEN EXCLUDED.source ELSE attendance_records.source END,
         confidence = EXCLUDED.confidence,
         updated_at = now()
       RETURNING id`,
      [randomUUID(), organizationId, userId, date, day.firstIn ?? null, day.lastOut ?? null, day.totalMinutes, day.openInterval, day.source, day.confidence],
    );
    return row!.id;
  }

  async deleteOrganization(tx: Transaction, organizationId: string): Promise<number> {
    return this.sql.execute(tx, "DELETE FROM attendance.attendance_records WHERE organization_id = $1", [organizationId]);
  }

  async get(tx: Transaction, id: string): Promise<RecordRow | undefined> {
    return this.sql.row<RecordRow>(tx, `SELECT ${COLUMNS} FROM attendance.attendance_records WHERE id = $1`, [id]);
  }

  /** Ordered by attendance_date, user_id; cursor key is the date, id the user. */
  async list(tx: Transaction, filter: RecordFilter): Promise<RecordRow[]> {
    if (filter.userIds?.length === 0) return [];
    const bind: unknown[] = [filter.from, filter.to, filter.limit];
    let where = "attendance_date BETWEEN $1::date AND $2::date";
    if (filter.userIds) {
      bind.push(filter.userIds);
      where += ` AND user_id = ANY($${bind.length}::uuid[])`;
    }
    if (filter.after) {
      bind.push(filter.after.key, filter.after.id);
      where += ` AND (attendance_date, user_id) > ($${bind.length - 1}::date, $${bind.length}::uuid)`;
    }
    return this.sql.rows<RecordRow>(tx, `SELECT ${COLUMNS} FROM attendance.attendance_records WHERE ${where} ORDER BY attendance_date, user_id LIMIT $3`, bind);
  }

  async summary(tx: Transaction, userId: string, from: string, to: string): Promise<{ days_present: number; total_minutes: number; days_open: number }> {
    const row = await this.sql.row<{ days_present: string; total_minutes: string; days_open: string }>(
      tx,
      `SELECT count(*) FILTER (WHERE first_in_time IS NOT NULL) AS days_present,
              coalesce(sum(total_minutes), 0) AS total_minutes,
              count(*) FILTER (WHERE open_interval) AS days_open
         FROM attendance.attendance_records WHERE user_id = $1 AND attendance_date BETWEEN $2::date AND $3::date`,
      [userId, from, to],
    );
    return { days_present: Number(row?.days_present ?? 0), total_minutes: Number(row?.total_minutes ?? 0), days_open: Number(row?.days_open ?? 0) };
  }

  async correct(
    tx: Transaction,
    id: string,
    values: { firstIn: Date; lastOut: Date | undefined; totalMinutes: number; actorId: string; reason: string },
  ): Promise<RecordRow> {
    const row = await this.sql.row<RecordRow>(
      tx,
      `UPDATE attendance.attendance_records
          SET first_in_time = $2, last_out_time = $3, total_minutes = $4, open_interval = $5, source = 'MANUAL',
              corrected_by = $6, correction_reason = $7, updated_at = now()
        WHERE id = $1
        RETURNING ${COLUMNS}`,
      [id, values.firstIn, values.lastOut ?? null, values.totalMinutes, values.lastOut === undefined, values.actorId, values.reason],
    );
    return row!;
  }
}
