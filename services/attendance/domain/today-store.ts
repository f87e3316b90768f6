import type { Cache } from "../../runtime/cache/cache.js";
import type { Logger } from "../../runtime/logger.js";
import { nextMidnight } from "./calendar.js";
import type { DayEvent } from "./day.js";

/** Kept a little past local midnight, so a read just after it still finds yesterday and knows it is stale. */
export const TODAY_GRACE_MS = 10 * 60_000;

interface Stored {
  date: string;
  events: (Omit<DayEvent, "time" | "createdAt"> & { time: string; createdAt: string })[];
}

export const todayKey = (organizationId: string, userId: string) => `attendance:today:${organizationId}:${userId}`;

/**
 * Today's events per person in the cache (`attendance:today:{org}:{user}`), for fast reads.
 * Only ever a copy of what Postgres holds: writers put it after reading the day under the day
 * lock, readers rebuild it from the logs when it is missing or from another day. A cache
 * failure is logged and treated as a miss, never as a failed request.
 */
export class TodayStore {
  constructor(private readonly cache: Cache, private readonly logger: Logger) {}

  async read(organizationId: string, userId: string, date: string): Promise<DayEvent[] | undefined> {
    let raw: string | null;
    try {
      raw = await this.cache.get(todayKey(organizationId, userId));
    } catch (err) {
      this.logger.warn({ err, organizationId, userId }, "today's state unreadable from the cache; reading the logs");
      return undefined;
    }
    if (!raw) return undefined;
    const stored = JSON.parse(raw) as Stored;
    if (stored.date !== date) return undefined;
    return stored.events.map((e) => ({ ...e, time: new Date(e.time), createdAt: new Date(e.createdAt) }));
  }

  /** Writes one person's day; false when the cache refused (the caller may then drop the key). */
  async write(organizationId: string, userId: string, date: string, events: readonly DayEvent[], timeZone: string, now = new Date()): Promise<boolean> {
    const stored: Stored = {
      date,
      events: events.map((e) => ({ ...e, time: e.time.toISOString(), createdAt: e.createdAt.toISOString() })),
    };
    const ttlMs = nextMidnight(now, timeZone).getTime() - now.getTime() + TODAY_GRACE_MS;
    try {
      await this.cache.set(todayKey(organizationId, userId), JSON.stringify(stored), ttlMs);
      return true;
    } catch (err) {
      this.logger.warn({ err, organizationId, userId }, "could not write today's state to the cache");
      return false;
    }
  }

  async forget(organizationId: string, userIds: Iterable<string>): Promise<void> {
    const keys = [...userIds].map((userId) => todayKey(organizationId, userId));
    if (keys.length === 0) return;
    try {
      await this.cache.del(...keys);
    } catch (err) {
      this.logger.error({ err, keys: keys.length }, "could not drop today's state after a failed write; it is stale until it expires");
    }
  }
}
