import { Severity } from "../../runtime/event-publisher.js";
import { revocationKeys } from "../../runtime/auth/revocation.js";
import type { Identity } from "../context.js";

const DAY_MS = 24 * 3_600_000;

/**
 * Deletes organisations whose deletion was requested more than the grace period ago. Each
 * deletion first announces ORGANIZATION_DELETED on the EVENTS stream (durable: vision, attendance,
 * authz and audit remove the tenant's faces, index, records and policy when they consume it),
 * then removes identity's rows; an organisation whose announcement fails stays for the next run.
 */
export class DeletionJob {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<number> | undefined;

  constructor(private readonly id: Identity, private readonly intervalMs = 3_600_000) {}

  start(): void {
    const tick = () => {
      this.runOnce().catch((err) => this.id.logger.error({ err }, "organisation deletion run failed"));
    };
    tick();
    this.timer = setInterval(tick, this.intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running?.catch(() => undefined);
  }

  /** Deletes what is due now; returns how many organisations were deleted. */
  runOnce(now = new Date()): Promise<number> {
    this.running ??= this.deleteDue(now).finally(() => (this.running = undefined));
    return this.running;
  }

  private async deleteDue(now: Date): Promise<number> {
    const cutoff = new Date(now.getTime() - this.id.config.identity.deletionGraceDays * DAY_MS);
    const due = await this.id.db.withSystem((tx) => this.id.organizations.dueForDeletion(tx, cutoff));
    let deleted = 0;
    for (const org of due) {
      const announced = await this.id.events.publish({
        eventId: `organization-deleted-${org.id}`,
        organizationId: org.id,
        type: "ORGANIZATION_DELETED",
        severity: Severity.INFO,
        referenceId: org.id,
        metadata: { code: org.code, requestedAt: new Date(org.deactivation_requested_at!).toISOString() },
      });
      if (!announced) continue;
      await this.id.db.withSystem((tx) => this.id.organizations.delete(tx, org.id));
      await this.id.cache.del(revocationKeys.organization(org.id));
      await this.id.audit.publish({ organizationId: org.id, actor: { kind: "system", subject: "" }, action: "organization.delete", entityType: "organization", entityId: org.id, outcome: "SUCCESS", detail: { code: org.code } });
      this.id.logger.info({ organization: org.code }, "deleted an organisation after its grace period");
      deleted++;
    }
    return deleted;
  }
}
