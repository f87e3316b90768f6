import type { Database } from "../../runtime/db/index.js";
import type { Logger } from "../../runtime/logger.js";
import { toDayEvent } from "../storage/logs-repo.js";
import { localDate } from "./calendar.js";
import { summarize } from "./day.js";
import type { Days } from "./days.js";

const DAYS_PER_TRANSACTION = 200;

/**
 * Turns ended days into attendance_records. A day has ended once the organisation's local
 * midnight has passed (which is also when its cached state expires); it is closed by the first
 * sweep after that, and again whenever a late or manual event lands on it. Safe with several
 * replicas: each organisation is closed under its day lock and the record is an idempotent
 * upsert, so two closers write the same row once.
 */
export class DayCloser {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;

  constructor(
    private readonly db: Database,
    private readonly days: Days,
    private readonly logger: Logger,
    private readonly intervalMs: number,
    private readonly onClosed: (count: number) => void = () => {},
  ) {}

  start(): void {
    this.stopped = false;
    this.schedule(0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }

  /** Closes every organisation's ended days; returns how many day records were written. */
  async sweep(now = new Date()): Promise<number> {
    const organizations = await this.db.withSystem((tx) => this.days.logs.organizationsWithOpenDays(tx));
    let closed = 0;
    for (const organizationId of organizations) {
      if (this.stopped) break;
      try {
        closed += await this.closeOrganization(organizationId, now);
      } catch (err) {
        this.logger.warn({ err, organizationId }, "could not close the organisation's days; the next sweep retries");
      }
    }
    return closed;
  }

  async closeOrganization(organizationId: string, now = new Date()): Promise<number> {
    const { timeZone } = await this.days.directory.rules(organizationId);
    const today = localDate(now, timeZone);
    let closed = 0;
    for (;;) {
      const batch = await this.db.withTenant(organizationId, async (tx) => {
        await this.days.logs.lockDays(tx, organizationId);
        const open = await this.days.logs.openDays(tx, today, DAYS_PER_TRANSACTION);
        for (const { user_id: userId, attendance_date: date } of open) {
          const events = (await this.days.logs.days(tx, [userId], [date])).map(toDayEvent);
          const recordId = await this.days.records.upsertComputed(tx, organizationId, userId, date, summarize(events));
          await this.days.logs.attach(tx, userId, date, recordId);
        }
        return open.length;
      });
      closed += batch;
      if (batch < DAYS_PER_TRANSACTION) break;
    }
    if (closed > 0) {
      this.onClosed(closed);
      this.logger.info({ organizationId, closed, today }, "closed ended days into records");
    }
    return closed;
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.running = this.sweep()
        .then(() => undefined, (err) => this.logger.warn({ err }, "closing sweep failed; retrying at the next one"))
        .finally(() => this.schedule(this.intervalMs));
    }, delayMs);
    this.timer.unref();
  }
}
