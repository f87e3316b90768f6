import type { Transaction } from "sequelize";
import { Sql, type Database } from "../../runtime/db/index.js";
import type { Bus } from "../../runtime/bus/bus.js";
import type { Logger } from "../../runtime/logger.js";
import { publishPolicyChanged } from "../../runtime/authz/policy-changed.js";
import { readRevision } from "./policy-store.js";

/** What a write did, e.g. "grant.revoked"; `subjectId` when it only changed that subject's roles. */
export interface Change {
  kind: string;
  subjectId?: string;
}

export interface WriteOutcome<T> {
  value: T;
  /** Undefined when nothing changed (an idempotent repeat): the revision stays. */
  change?: Change;
}

/** Changes kept per organisation for replicas catching up; one further behind reloads it all. */
const KEPT_CHANGES = 1000;

/**
 * The one way the policy is changed. Each write runs in the organisation's transaction, after
 * every earlier write of that organisation (an advisory lock: checks such as "not the last
 * ADMIN" see committed state), bumps the revision when something changed, and once committed
 * announces the revision on the bus and to `onCommitted` (the local policy cache).
 */
export class PolicyWriter {
  readonly sql: Sql;

  constructor(
    private readonly db: Database,
    private readonly bus: Bus,
    private readonly logger: Logger,
    private readonly onCommitted: (organizationId: string, revision: bigint) => void = () => {},
  ) {
    this.sql = new Sql(db.sequelize);
  }

  async write<T>(organizationId: string, fn: (tx: Transaction) => Promise<WriteOutcome<T>>): Promise<{ value: T; revision: bigint }> {
    const { value, change, revision } = await this.db.withTenant(organizationId, async (tx) => {
      await this.sql.execute(tx, "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", [`authz.policy.${organizationId}`]);
      const outcome = await fn(tx);
      const revision = outcome.change ? await this.bump(tx, organizationId, outcome.change) : await readRevision(this.sql, tx, organizationId);
      return { ...outcome, revision };
    });
    if (change) {
      this.onCommitted(organizationId, revision);
      publishPolicyChanged(this.bus, this.logger, organizationId, revision, change.kind);
    }
    return { value, revision };
  }

  /** The organisation's revision now (0 before its first write). */
  revisionNow(organizationId: string): Promise<bigint> {
    return this.db.withTenant(organizationId, (tx) => readRevision(this.sql, tx, organizationId));
  }

  private async bump(tx: Transaction, organizationId: string, change: Change): Promise<bigint> {
    const row = await this.sql.row<{ revision: string }>(
      tx,
      `INSERT INTO authz.revisions (organization_id, revision) VALUES ($1, 1)
       ON CONFLICT (organization_id) DO UPDATE SET revision = authz.revisions.revision + 1, changed_at = now()
       RETURNING revision`,
      [organizationId],
    );
    const revision = BigInt(row!.revision);
    await this.sql.execute(
      tx,
      "INSERT INTO authz.policy_changes (organization_id, revision, change, subject_id) VALUES ($1, $2, $3, $4)",
      [organizationId, revision.toString(), change.kind, change.subjectId ?? null],
    );
    await this.sql.execute(tx, "DELETE FROM authz.policy_changes WHERE organization_id = $1 AND revision <= $2", [
      organizationId,
      (revision - BigInt(KEPT_CHANGES)).toString(),
    ]);
    return revision;
  }
}
