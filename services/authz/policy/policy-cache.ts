import { failedPrecondition } from "../../runtime/errors.js";
import type { Logger } from "../../runtime/logger.js";
import type { PolicyStore } from "../store/policy-store.js";
import { CompiledPolicy } from "./compiled-policy.js";

export interface PolicyCacheOptions {
  store: Pick<PolicyStore, "refresh" | "revisions">;
  logger: Logger;
  /**
   * How often the revisions of loaded organisations are compared with the database, in case a
   * PolicyChanged message was lost (core pub/sub is at-most-once). Default 500 ms.
   */
  pollMs?: number;
}

/**
 * The compiled policies of the organisations this replica has been asked about. A policy is
 * never used once a newer revision is known: one heard on the bus, written here, found by the
 * poll, or asked for with at_least_revision. Catching up is one refresh per organisation at a
 * time, by the assignments that changed when that is all that changed, else by a reload.
 */
export class PolicyCache {
  private readonly policies = new Map<string, CompiledPolicy>();
  private readonly newest = new Map<string, bigint>();
  private readonly loads = new Map<string, Promise<CompiledPolicy>>();
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly options: PolicyCacheOptions) {
    this.timer = setInterval(() => void this.poll(), options.pollMs ?? 500);
    this.timer.unref();
  }

  /**
   * The organisation's policy, at least as new as every revision known here and as `atLeast`;
   * FAILED_PRECONDITION when the database has not reached `atLeast`.
   */
  async policy(organizationId: string, atLeast?: bigint): Promise<CompiledPolicy> {
    const policy = this.fresh(organizationId, atLeast);
    if (policy !== undefined) return policy;
    const fresh = await this.refresh(organizationId, atLeast);
    if (atLeast !== undefined && fresh.revision < atLeast) {
      throw failedPrecondition(
        `policy revision ${atLeast} of organisation ${organizationId} does not exist yet (the newest is ${fresh.revision}); ` +
          "pass a revision returned by a policy write",
      );
    }
    return fresh;
  }

  /**
   * The loaded policy when it is as new as every revision known here and as `atLeast`, without
   * waiting; undefined when policy() must load it. Lets a check skip a promise when it can.
   */
  fresh(organizationId: string, atLeast?: bigint): CompiledPolicy | undefined {
    const policy = this.policies.get(organizationId);
    return policy !== undefined && policy.revision >= this.wanted(organizationId, atLeast) ? policy : undefined;
  }

  /** A revision committed somewhere: policies older than it are refreshed before their next use. */
  noteRevision(organizationId: string, revision: bigint): void {
    if (revision <= (this.newest.get(organizationId) ?? 0n)) return;
    this.newest.set(organizationId, revision);
    const loaded = this.policies.get(organizationId);
    // Refresh now rather than on the next check, so that check does not wait for it.
    if (loaded !== undefined && loaded.revision < revision) {
      this.refresh(organizationId).catch((err) =>
        this.options.logger.warn({ err, organizationId }, "could not refresh a policy; the next check retries"),
      );
    }
  }

  /** Drops what is held for an organisation (deleted: its policy is gone from the database). */
  forget(organizationId: string): void {
    this.policies.delete(organizationId);
    this.newest.delete(organizationId);
  }

  /** Revision of the loaded policy, if any (for tests and metrics). */
  loadedRevision(organizationId: string): bigint | undefined {
    return this.policies.get(organizationId)?.revision;
  }

  close(): void {
    clearInterval(this.timer);
  }

  private wanted(organizationId: string, atLeast: bigint | undefined): bigint {
    const heard = this.newest.get(organizationId) ?? 0n;
    return atLeast !== undefined && atLeast > heard ? atLeast : heard;
  }

  /**
   * A load in flight may have begun before what the caller wants was committed: it is used if
   * it turns out new enough, else a load that begins now is.
   */
  private async refresh(organizationId: string, atLeast?: bigint): Promise<CompiledPolicy> {
    const running = this.loads.get(organizationId);
    if (running !== undefined) {
      const policy = await running.catch(() => undefined);
      if (policy !== undefined && policy.revision >= this.wanted(organizationId, atLeast)) return policy;
    }
    // Another waiter may have started the next load already; it began after ours, so share it.
    let next = this.loads.get(organizationId);
    if (next === undefined) {
      next = this.load(organizationId).finally(() => this.loads.delete(organizationId));
      this.loads.set(organizationId, next);
    }
    return next;
  }

  private async load(organizationId: string): Promise<CompiledPolicy> {
    const heard = this.newest.get(organizationId) ?? 0n;
    const loaded = this.policies.get(organizationId);
    const update = await this.options.store.refresh(organizationId, loaded?.revision);
    let policy: CompiledPolicy;
    if (update.kind === "full") {
      policy = new CompiledPolicy(update.rows);
      this.policies.set(organizationId, policy);
    } else {
      // "current" and "subjects" are only answered for a loaded revision.
      policy = loaded!;
      if (update.kind === "subjects") {
        for (const { subjectId, roleIds } of update.subjects) policy.setSubjectRoles(subjectId, roleIds);
      }
      policy.revision = update.revision;
    }
    const newest = this.newest.get(organizationId) ?? 0n;
    if (policy.revision > newest) {
      this.newest.set(organizationId, policy.revision);
    } else if (policy.revision < heard && newest === heard) {
      // Announced before this load began, hence committed before it, yet not in the database:
      // the database was restored or the announcement was wrong. Believe the database.
      this.options.logger.warn({ organizationId, heard: String(heard), found: String(policy.revision) }, "a policy revision announced earlier is not in the database");
      this.newest.set(organizationId, policy.revision);
    }
    return policy;
  }

  private async poll(): Promise<void> {
    if (this.policies.size === 0) return;
    try {
      for (const [organizationId, revision] of await this.options.store.revisions([...this.policies.keys()])) {
        this.noteRevision(organizationId, revision);
      }
    } catch (err) {
      this.options.logger.warn({ err }, "could not poll policy revisions");
    }
  }
}
