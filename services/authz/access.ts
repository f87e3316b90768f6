import type { Database, Sql } from "../runtime/db/index.js";
import { notFound, permissionDenied } from "../runtime/errors.js";
import type { CallContext } from "../runtime/grpc/context.js";
import { uuid } from "../runtime/validate.js";
import { callerOf, isPlatform, targetOrganization } from "../runtime/authz/callers.js";
import type { PolicyCache } from "./policy/policy-cache.js";
import type { PolicyWriter } from "./store/policy-writer.js";

/** Actions on the built-in resource "roles", which guards the whole policy administration. */
export type PolicyAction = "read" | "create" | "update" | "delete" | "assign";

/** Reads are decided on the cached policy; writes on the newest committed one (see require). */
export type Freshness = "cached" | "newest";

/**
 * Who may administer an organisation's policy: holders of roles:<action> in it, decided by the
 * policy itself, and platform callers (services, staff) everywhere.
 */
export class Access {
  constructor(
    private readonly db: Database,
    private readonly sql: Sql,
    private readonly cache: PolicyCache,
    private readonly writer: PolicyWriter,
  ) {}

  /**
   * PERMISSION_DENIED unless the caller holds roles:<action> in the organisation. "newest" first
   * reads the committed revision, so an administrator revoked a moment ago on another replica
   * can no longer write here.
   */
  async require(ctx: CallContext, organizationId: string, action: PolicyAction, freshness: Freshness): Promise<void> {
    const caller = callerOf(ctx);
    if (isPlatform(caller)) return;
    if (caller.organizationId !== organizationId) {
      throw permissionDenied(`your token is for organisation ${caller.organizationId}; only platform operators may act in organisation ${organizationId}`);
    }
    const atLeast = freshness === "newest" ? await this.writer.revisionNow(organizationId) : undefined;
    const decision = (await this.cache.policy(organizationId, atLeast)).check(caller.subject, "roles", action);
    if (!decision.allowed) throw permissionDenied(`you may not ${action} roles in this organisation: ${decision.reason}`);
  }

  /** The organisation a request names (or the caller's own), once the caller may act there. */
  async organization(ctx: CallContext, requested: string, action: PolicyAction, freshness: Freshness): Promise<string> {
    const organizationId = targetOrganization(ctx, requested);
    await this.require(ctx, organizationId, action, freshness);
    return organizationId;
  }

  /**
   * The organisation of a role, resource or permission given by id, once the caller may act
   * there; null for a built-in resource or permission. A tenant is checked in its own
   * organisation, where row-level security hides other organisations' rows (NOT_FOUND later).
   */
  async organizationOf(
    ctx: CallContext,
    table: "roles" | "resources" | "permissions",
    id: string,
    action: PolicyAction,
    freshness: Freshness,
  ): Promise<string | null> {
    const caller = callerOf(ctx);
    const singular = table.slice(0, -1);
    uuid(`${singular}_id`, id);
    if (!isPlatform(caller)) return this.organization(ctx, "", action, freshness);
    const row = await this.db.withSystem((tx) =>
      this.sql.row<{ organization_id: string | null }>(tx, `SELECT organization_id FROM authz.${table} WHERE id = $1`, [id]),
    );
    if (!row) throw notFound(singular, id);
    return row.organization_id;
  }
}
