import type { Logger } from "../../../services/runtime/logger.js";
import type { LiveSourceListener } from "../capture/live-capture.js";
import type { AgentMetrics } from "./metrics.js";

/**
 * Whether the source gives frames, as operators see it: rollcall_agent_source_up and
 * _source_reconnects_total, one log line when a live source drops and one when it is back (with
 * how many reopenings it took), and /readyz's reason while it is down.
 */
export class SourceHealth implements LiveSourceListener {
  private outage: { since: Date; attempts: number; reason: string } | undefined;

  constructor(private readonly metrics: AgentMetrics, private readonly logger: Logger) {
    metrics.sourceUp.set(1);
  }

  get up(): boolean {
    return this.outage === undefined;
  }

  dropped(reason: string): void {
    this.outage = { since: new Date(), attempts: 0, reason };
    this.metrics.sourceUp.set(0);
    this.logger.warn({ reason }, "source dropped; reopening it with backoff (0.5 s doubling to 30 s) until it gives frames again");
  }

  retryFailed(attempt: number, reason: string): void {
    if (!this.outage) return;
    this.outage.attempts = attempt;
    this.outage.reason = reason;
    this.logger.debug({ attempt, reason }, "source still down");
  }

  recovered(attempts: number, outageMs: number): void {
    this.outage = undefined;
    this.metrics.sourceUp.set(1);
    this.metrics.sourceReconnects.inc();
    this.logger.info({ attempts, outageMs }, "source back: frames again");
  }

  /** /readyz: throws, saying why, while the source is down. */
  async check(): Promise<void> {
    const outage = this.outage;
    if (outage) throw new Error(`source down since ${outage.since.toISOString()}, ${outage.attempts} reopening attempts so far: ${outage.reason}`);
  }
}
