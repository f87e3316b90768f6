import type { Transaction } from "sequelize";
import type { Sql } from "../../runtime/db/index.js";
import type { DayEvent, EventType, Source } from "../domain/day.js";

export interface LogRow {
  id: string;
  user_id: string;
  event_id: string;
  event_type: EventType;
  event_time: Date;
  attendance_date: string;
  device_id: string | null;
  confidence: string;
  source: Source;
  actor_id: string | null;
  reason: string | null;
  attendance_id: string | null;
  created_at: Date;
}

export interface NewLog {
  id: string;
  userId: string;
  eventId: string;
  type: EventType;
  time: Date;
  date: string;
  deviceId: string | null;
  confidence: number;
  source: Source;
  actorId: string | null;
  reason: string | null;
}

export interface PresentRow {
  user_id: string;
  since: Date;
  device_id: string | null;
  first_in: Date;
}

const COLUMNS = `id, user_id, event_id, event_type, event_time, attendance_date::text AS attendance_date, device_id,
  confidence, source, actor_id, reason, attendance_id, created_at`;

export function toDayEvent(row: LogRow): DayEvent {
  return {
    id: row.id,
    eventId: row.event_id,
    type: row.event_type,
    time: new Date(row.event_time),
    deviceId: row.device_id,
    confidence: Number(row.confidence),
    source: row.source,
    actorId: row.actor_id,
    reason: row.reason,
    attendanceId: row.attendance_id,
    createdAt: new Date(row.created_at),
  };
}

/** attendance_logs, always inside a tenant transaction. */
export class LogsRepo {
  constructor(private readonly sql: Sql) {}

  /**
   * Serialises writers of one organisation's days across replicas (ingest, manual events, the
   * closer), so that each decides on a day it has read completely. Released at commit.
   */
  /** Deletes every log of the organisation; returns whose days they were. */
  async deleteOrganization(tx: Transaction, organizationId: string): Promise<Set<string>> {
    const gone = await this.sql.rows<{ user_id: string }>(tx, "DELETE FROM attendance.attendance_logs WHERE organization_id = $1 RETURNING user_id", [organizationId]);
    return new Set(gone.map((g) => g.user_id));
  }

  async lockDays(tx: Transaction, organizationId: string): Promise<void> {
    await this.sql.rows(tx, "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", [`attendance.days.${organizationId}`]);
  }

  /** Every event of the given users on the given dates (a superset when both lists are long). */
  async days(tx: Transaction, userIds: string[], dates: string[]): Promise<LogRow[]> {
    return this.sql.rows<LogRow>(
      tx,
      `SELECT ${COLUMNS} FROM attendance.attendance_logs
        WHERE user_id = ANY($1::uuid[]) AND attendance_date = ANY($2::date[])
        ORDER BY event_time, created_at, event_id`,
      [userIds, dates],
    );
  }

  async ofDate(tx: Transaction, date: string): Promise<LogRow[]> {
    return this.sql.rows<LogRow>(tx, `SELECT ${COLUMNS} FROM attendance.attendance_logs WHERE attendance_date = $1::date ORDER BY event_time, created_at, event_id`, [date]);
  }

  /**
   * Who is in on a date: people whose last event is an IN, with the IN that opened the current
   * interval (the first IN after their last OUT) and their first IN of the day. Ordered by
   * since, user_id, after the cursor; optionally one person only.
   */
  async present(tx: Transaction, date: string, options: { userId?: string; after?: { since: string; userId: string }; limit: number }): Promise<PresentRow[]> {
    return this.sql.rows<PresentRow>(
      tx,
      `WITH day AS (
         SELECT user_id, event_type, event_time, device_id, created_at FROM attendance.attendance_logs
          WHERE attendance_date = $1::date AND ($2::uuid IS NULL OR user_id = $2::uuid)
       ), marked AS (
         -- One pass of window functions: a join of the day with its own totals gets a row estimate
         -- of 1 from the planner and becomes a quadratic nested loop.
         SELECT user_id, event_type, event_time, device_id, created_at,
                first_value(event_type) OVER (PARTITION BY user_id ORDER BY event_time DESC, created_at DESC) AS last_type,
                max(event_time) FILTER (WHERE event_type = 'OUT') OVER (PARTITION BY user_id) AS last_out,
                min(event_time) FILTER (WHERE event_type = 'IN') OVER (PARTITION BY user_id) AS first_in
           FROM day
       ), opened AS (
         SELECT DISTINCT ON (user_id) user_id, event_time AS since, device_id, first_in FROM marked
          WHERE last_type = 'IN' AND event_type = 'IN' AND (last_out IS NULL OR event_time > last_out)
          ORDER BY user_id, event_time, created_at
       )
       SELECT user_id, since, device_id, first_in FROM opened
        WHERE $3::timestamptz IS NULL OR (since, user_id) > ($3::timestamptz, $4::uuid)
        ORDER BY since, user_id LIMIT $5`,
      [date, options.userId ?? null, options.after?.since ?? null, options.after?.userId ?? null, options.limit],
    );
  }

  async byEventId(tx: Transaction, eventId: string): Promise<LogRow | undefined> {
    return this.sql.row<LogRow>(tx, `SELECT ${COLUMNS} FROM attendance.attendance_logs WHERE event_id = $1`, [eventId]);
  }

  /** Inserts the logs whose event_id is new; returns the event ids actually inserted. */
  async insert(tx: Transaction, organizationId: string, logs: NewLog[]): Promise<Set<string>> {
    if (logs.length === 0) return new Set();
    const rows = await this.sql.rows<{ event_id: string }>(
      tx,
      `INSERT INTO attendance.attendance_logs
         (id, organization_id, user_id, event_id, event_type, event_time, attendance_date, device_id, confidence, source, actor_id, reason)
       SELECT id, $1::uuid, user_id, event_id, event_type, event_time, attendance_date, device_id, confidence, source, actor_id, reason
         FROM unnest($2::uuid[], $3::uuid[], $4::uuid[], $5::text[], $6::timestamptz[], $7::date[], $8::uuid[], $9::numeric[], $10::text[], $11::uuid[], $12::text[])
           AS t(id, user_id, event_id, event_type, event_time, attendance_date, device_id, confidence, source, actor_id, reason)
       ON CONFLICT (event_id) DO NOTHING
       RETURNING event_id`,
      [
        organizationId,
        logs.map((l) => l.id),
        logs.map((l) => l.userId),
        logs.map((l) => l.eventId),
        logs.map((l) => l.type),
        logs.map((l) => l.time.toISOString()),
        logs.map((l) => l.date),
        logs.map((l) => l.deviceId),
        logs.map((l) => l.confidence),
        logs.map((l) => l.source),
        logs.map((l) => l.actorId),
        logs.map((l) => l.reason),
      ],
    );
    return new Set(rows.map((r) => r.event_id));
  }

  /** (user, date) pairs with events not yet folded into a record, on dates before `before`. */
  async openDays(tx: Transaction, before: string, limit: number): Promise<{ user_id: string; attendance_date: string }[]> {
    return this.sql.rows(
      tx,
      `SELECT DISTINCT user_id, attendance_date::text AS attendance_date FROM attendance.attendance_logs
        WHERE attendance_id IS NULL AND attendance_date < $1::date
        ORDER BY attendance_date, user_id LIMIT $2`,
      [before, limit],
    );
  }

  async attach(tx: Transaction, userId: string, date: string, recordId: string): Promise<number> {
    return this.sql.execute(
      tx,
      `UPDATE attendance.attendance_logs SET attendance_id = $3 WHERE user_id = $1 AND attendance_date = $2::date AND attendance_id IS DISTINCT FROM $3`,
      [userId, date, recordId],
    );
  }

  /** Organisations with days still to close: a cross-tenant look, for the closer only. */
  async organizationsWithOpenDays(tx: Transaction): Promise<string[]> {
    const rows = await this.sql.rows<{ organization_id: string }>(tx, "SELECT DISTINCT organization_id FROM attendance.attendance_logs WHERE attendance_id IS NULL");
    return rows.map((r) => r.organization_id);
  }
}
