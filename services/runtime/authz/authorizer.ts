import type { CallContext } from "../grpc/context.js";

export type ScopeName = "ALL" | "OWN" | "NONE";

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
}
