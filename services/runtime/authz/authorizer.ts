import { permissionDenied } from "../errors.js";
import type { CallContext } from "../grpc/context.js";

export type ScopeName = "ALL" | "OWN" | "NONE";

/** A decision as the authz service made it. */
export interface AuthzDecision {
  allowed: boolean;
  /** For people: which role and grant decided, or why it was denied. */
  reason: string;
  /** The role whose grant allowed it; empty when denied or for platform callers. */
  decidedByRole: string;
  /** Scope of the deciding grant; NONE when denied. */
  scope: ScopeName;
  /** Policy revision it was made at (0 for platform callers, decided without asking). */
  revision: bigint;
}

export interface CheckOptions {
  /** Owner of the object acted on: an OWN grant then allows only its owner. */
  ownerId?: string;
  /** A revision returned by a policy write: the answer reflects at least that write. */
  atLeastRevision?: bigint;
}

/**
 * What handlers use to ask the authz service before acting: one call per decision, answered from
 * a short local decision cache invalidated over the bus. Implemented in this folder on top of the
 * AuthzService client (issue 4).
 */
export interface Authorizer {
  /**
   * Resolves when the caller may perform `action` on `resource` in the caller's organisation
   * (on an object owned by `ownerId`, when given); otherwise throws PERMISSION_DENIED with the
   * reason. Unknown resources or actions are INVALID_ARGUMENT, not a silent deny.
   */
  authorize(ctx: CallContext, resource: string, action: string, ownerId?: string): Promise<void>;
  /** The widest scope the caller holds, so list endpoints can filter in SQL. */
  resolveScope(ctx: CallContext, resource: string, action: string): Promise<ScopeName>;
  /** The decision without throwing, e.g. to show what a user may do. */
  check(ctx: CallContext, resource: string, action: string, options?: CheckOptions): Promise<AuthzDecision>;
}

/**
 * For acts on every object of a resource at once (search all faces, rebuild an index, list
 * everyone): a grant with scope OWN is not enough, ALL is needed. Throws PERMISSION_DENIED
 * saying so.
 */
export async function authorizeAll(authz: Authorizer, ctx: CallContext, resource: string, action: string): Promise<void> {
  const scope = await authz.resolveScope(ctx, resource, action);
  if (scope !== "ALL") {
    throw permissionDenied(`not allowed to ${action} every object of ${resource}: this needs ${resource}:${action} with scope ALL, the caller has ${scope}`);
  }
}
