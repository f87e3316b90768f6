import { randomUUID } from "node:crypto";
import type { Database } from "../../runtime/db/index.js";
import { Sql } from "../../runtime/db/index.js";
import { LogsRepo, toDayEvent, type LogRow, type NewLog, type PresentRow } from "../storage/logs-repo.js";
import { RecordsRepo } from "../storage/records-repo.js";
import { localDate } from "./calendar.js";
import { byTime, decide, type DayEvent, type Decision, type Direction, type IngestRules, type Sighting } from "./day.js";
import type { Directory } from "./directory.js";
import { TodayStore } from "./today-store.js";

export interface Recognition extends Sighting {
  userId: string;
}

export type IngestOutcome = "accepted" | "duplicate" | "debounced" | "low_confidence" | "unknown_device";

/**
 * People's days: turning recognitions and manual entries into attendance_logs (under the
 * organisation's day lock, so every decision sees the whole day), and reading today's state
 * through the cache.
 */
export class Days {
  readonly logs: LogsRepo;
  readonly records: RecordsRepo;
  readonly today: TodayStore;

  constructor(readonly db: Database, readonly directory: Directory, today: TodayStore) {
    const sql = new Sql(db.sequelize);
    this.logs = new LogsRepo(sql);
    this.records = new RecordsRepo(sql);
    this.today = today;
  }

  /** Removes a deleted organisation's logs, records and cached days. Idempotent. */
  async deleteOrganization(organizationId: string): Promise<number> {
    const users = await this.db.withTenant(organizationId, async (tx) => {
      await this.logs.lockDays(tx, organizationId);
      const users = await this.logs.deleteOrganization(tx, organizationId);
      await this.records.deleteOrganization(tx, organizationId);
      return users;
    });
    await this.today.forget(organizationId, users);
    return users.size;
  }

  /** One organisation's recognitions; returns what became of each event id. */
  async ingest(organizationId: string, recognitions: readonly Recognition[], now = new Date()): Promise<Map<string, IngestOutcome>> {
    const outcomes = new Map<string, IngestOutcome>();
    const rules = await this.directory.rules(organizationId);
    const devices = [...new Set(recognitions.map((r) => r.deviceId))];
    const directions = new Map(await Promise.all(devices.map(async (d) => [d, await this.directory.direction(organizationId, d)] as const)));
    const rulesNow: IngestRules = { debounceMs: rules.debounceMs, minConfidence: rules.minConfidence };
    const candidates: (Recognition & { date: string; direction: Direction })[] = [];
    for (const r of recognitions) {
      const direction = directions.get(r.deviceId);
      if (!direction) outcomes.set(r.eventId, "unknown_device");
      else if (r.confidence < rules.minConfidence) outcomes.set(r.eventId, "low_confidence");
      else candidates.push({ ...r, date: localDate(r.time, rules.timeZone), direction });
    }
    if (candidates.length === 0) return outcomes;
    candidates.sort((a, b) => a.time.getTime() - b.time.getTime());

    const today = localDate(now, rules.timeZone);
    const touchedToday = new Set<string>();
    try {
      await this.db.withTenant(organizationId, async (tx) => {
        await this.logs.lockDays(tx, organizationId);
        const days = groupDays(await this.logs.days(tx, [...new Set(candidates.map((c) => c.userId))], [...new Set(candidates.map((c) => c.date))]));
        const fresh: NewLog[] = [];
        for (const c of candidates) {
          const key = `${c.userId}/${c.date}`;
          const day = days.get(key) ?? [];
          const decision: Decision = decide(day, c, c.direction, rulesNow);
          if ("drop" in decision) {
            outcomes.set(c.eventId, decision.drop);
            continue;
          }
          const log: NewLog = { id: randomUUID(), userId: c.userId, eventId: c.eventId, type: decision.accept, time: c.time, date: c.date, deviceId: c.deviceId, confidence: c.confidence, source: "CAMERA", actorId: null, reason: null };
          fresh.push(log);
          day.push(newEvent(log, now));
          days.set(key, day);
        }
        const inserted = await this.logs.insert(tx, organizationId, fresh);
        for (const log of fresh) {
          outcomes.set(log.eventId, inserted.has(log.eventId) ? "accepted" : "duplicate");
          if (log.date === today && inserted.has(log.eventId)) touchedToday.add(log.userId);
        }
        // Written before commit, while the day lock keeps other writers of these days waiting.
        await Promise.all(
          [...touchedToday].map(async (userId) => {
            const day = (days.get(`${userId}/${today}`) ?? []).filter((e) => !fresh.some((f) => f.eventId === e.eventId) || inserted.has(e.eventId));
            if (!(await this.today.write(organizationId, userId, today, day.sort(byTime), rules.timeZone, now))) await this.today.forget(organizationId, [userId]);
          }),
        );
      });
    } catch (err) {
      await this.today.forget(organizationId, touchedToday);
      throw err;
    }
    return outcomes;
  }

  /**
   * Stores a manual event (or finds the one stored under its event id before: a retry).
   * Returns the log and whether it is new.
   */
  async addManual(organizationId: string, log: Omit<NewLog, "id" | "date">, now = new Date()): Promise<{ row: LogRow; created: boolean; date: string; today: string }> {
    const rules = await this.directory.rules(organizationId);
    const date = localDate(log.time, rules.timeZone);
    const today = localDate(now, rules.timeZone);
    const result = await this.db.withTenant(organizationId, async (tx) => {
      await this.logs.lockDays(tx, organizationId);
      const existing = await this.logs.byEventId(tx, log.eventId);
      if (existing) return { row: existing, created: false };
      const inserted = await this.logs.insert(tx, organizationId, [{ ...log, id: randomUUID(), date }]);
      const row = await this.logs.byEventId(tx, log.eventId);
      if (!row || inserted.size === 0) return undefined; // the event id is taken in another organisation
      if (date === today) {
        const day = (await this.logs.days(tx, [log.userId], [today])).map(toDayEvent);
        if (!(await this.today.write(organizationId, log.userId, today, day, rules.timeZone, now))) await this.today.forget(organizationId, [log.userId]);
      }
      return { row, created: true };
    }).catch(async (err) => {
      await this.today.forget(organizationId, [log.userId]);
      throw err;
    });
    if (!result) throw new EventIdTaken(log.eventId);
    return { ...result, date, today };
  }

  /** Today's events of one person: from the cache, or rebuilt from the logs (and cached again). */
  async todayOf(organizationId: string, userId: string, now = new Date()): Promise<{ date: string; events: DayEvent[]; timeZone: string }> {
    const { timeZone } = await this.directory.rules(organizationId);
    const date = localDate(now, timeZone);
    const cached = await this.today.read(organizationId, userId, date);
    if (cached) return { date, events: cached, timeZone };
    // Read under the day lock, so a writer cannot slip in between the read and the cache write.
    const events = await this.db.withTenant(organizationId, async (tx) => {
      await this.logs.lockDays(tx, organizationId);
      const rows = (await this.logs.days(tx, [userId], [date])).map(toDayEvent);
      await this.today.write(organizationId, userId, date, rows, timeZone, now);
      return rows;
    });
    return { date, events, timeZone };
  }

  /** Who is in now, a page at a time, from the logs. */
  async whoIsIn(organizationId: string, options: { userId?: string; after?: { since: string; userId: string }; limit: number }, now = new Date()): Promise<{ date: string; rows: PresentRow[] }> {
    const { timeZone } = await this.directory.rules(organizationId);
    const date = localDate(now, timeZone);
    const rows = await this.db.withTenant(organizationId, (tx) => this.logs.present(tx, date, options));
    return { date, rows };
  }
}

export class EventIdTaken extends Error {
  constructor(readonly eventId: string) {
    super(`event id ${eventId} is already used`);
  }
}

function groupDays(rows: LogRow[]): Map<string, DayEvent[]> {
  const days = new Map<string, DayEvent[]>();
  for (const row of rows) {
    const key = `${row.user_id}/${row.attendance_date}`;
    const list = days.get(key) ?? [];
    list.push(toDayEvent(row));
    days.set(key, list);
  }
  return days;
}

function newEvent(log: NewLog, now: Date): DayEvent {
  return { id: log.id, eventId: log.eventId, type: log.type, time: log.time, deviceId: log.deviceId, confidence: log.confidence, source: log.source, actorId: log.actorId, reason: log.reason, attendanceId: null, createdAt: now };
}
