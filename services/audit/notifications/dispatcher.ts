import type { Signal } from "../../runtime/bus/consumer-loop.js";
import type { Database, Sql } from "../../runtime/db/index.js";
import type { Logger } from "../../runtime/logger.js";
import type { Mailer } from "../../runtime/mail/mailer.js";
import { EVENT_COLUMNS, type EventRow } from "../events/event-store.js";
import { eventOf } from "../handlers/convert.js";
import { deliver } from "./deliver.js";

export interface DispatchSettings {
  /** Delay before the first retry; doubles after every further failure. */
  retryBaseMs: number;
  /** Attempts before a notification is FAILED. */
  maxAttempts: number;
  /** How long a claimed notification is reserved for the replica that claimed it. */
  leaseMs: number;
  /** How often to look for due notifications when nothing wakes the dispatcher. */
  pollMs: number;
  timeoutMs: number;
}

interface Claimed {
  id: string;
  event_id: string;
  channel: string;
  target: string;
  signing_secret: string;
  attempts: number;
}

const CLAIM = 20;

/**
 * Delivers PENDING email and webhook notifications. Claiming a row reserves it for a lease and
 * counts the attempt before sending (FOR UPDATE SKIP LOCKED: replicas never take the same one);
 * a replica that dies mid-delivery leaves the row PENDING, and it is taken again once the lease
 * runs out, so delivery survives restarts (at least once; receivers dedupe on the delivery id).
 */
export class NotificationDispatcher {
  private stopped = false;
  private loop: Promise<void> | undefined;

  constructor(private readonly deps: { db: Database; sql: Sql; mailer: Mailer; logger: Logger; wake: Signal }, private readonly settings: DispatchSettings) {}

  start(): void {
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.deps.wake.notify();
    await this.loop;
  }

  /** Sends what is due now; returns how many were attempted. */
  async runOnce(): Promise<number> {
    const claimed = await this.claim();
    await Promise.all(claimed.map(({ row, event }) => this.attempt(row, event)));
    return claimed.length;
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      let sent = 0;
      try {
        sent = await this.runOnce();
      } catch (err) {
        this.deps.logger.warn({ err }, "notification dispatch failed; retrying");
      }
      if (sent === 0 && !this.stopped) await this.deps.wake.wait(this.settings.pollMs);
    }
  }

  private claim(): Promise<{ row: Claimed; event: EventRow }[]> {
    const { db, sql } = this.deps;
    return db.withSystem(async (tx) => {
      const rows = await sql.rows<Claimed>(
        tx,
        `UPDATE audit.notifications SET locked_until = now() + make_interval(secs => $1::float8 / 1000), attempts = attempts + 1
         WHERE id IN (SELECT id FROM audit.notifications
                      WHERE status = 'PENDING' AND next_attempt_at <= now() AND (locked_until IS NULL OR locked_until < now())
                      ORDER BY next_attempt_at LIMIT ${CLAIM} FOR UPDATE SKIP LOCKED)
         RETURNING id, event_id, channel, target, signing_secret, attempts`,
        [this.settings.leaseMs],
      );
      if (rows.length === 0) return [];
      const events = await sql.rows<EventRow>(tx, `SELECT ${EVENT_COLUMNS} FROM audit.events WHERE id = ANY($1::uuid[])`, [[...new Set(rows.map((r) => r.event_id))]]);
      const byId = new Map(events.map((e) => [e.id, e]));
      return rows.map((row) => ({ row, event: byId.get(row.event_id)! }));
    });
  }

  private async attempt(row: Claimed, event: EventRow): Promise<void> {
    const { db, sql, mailer, logger } = this.deps;
    let error: string | undefined;
    try {
      await deliver({ notificationId: row.id, channel: row.channel, target: row.target, signingSecret: row.signing_secret, event: eventOf(event) }, mailer, this.settings.timeoutMs);
    } catch (err) {
      error = ((err as Error).message || String(err)).slice(0, 1000);
    }
    const failed = error !== undefined && row.attempts >= this.settings.maxAttempts;
    const retryMs = this.settings.retryBaseMs * 2 ** Math.max(0, row.attempts - 1);
    await db.withSystem((tx) =>
      error === undefined
        ? sql.execute(tx, `UPDATE audit.notifications SET status = 'SENT', sent_at = now(), locked_until = NULL, last_error = '' WHERE id = $1`, [row.id])
        : sql.execute(
            tx,
            `UPDATE audit.notifications SET status = $2, last_error = $3, locked_until = NULL,
               next_attempt_at = now() + make_interval(secs => $4::float8 / 1000) WHERE id = $1`,
            [row.id, failed ? "FAILED" : "PENDING", error, retryMs],
          ),
    );
    if (error !== undefined) logger.info({ notification: row.id, channel: row.channel, attempts: row.attempts, failed, error }, "notification not delivered");
  }
}
