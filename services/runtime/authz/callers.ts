import type { Caller } from "../auth/caller.js";
import { invalidArgument, permissionDenied, unauthenticated } from "../errors.js";
import type { CallContext } from "../grpc/context.js";
import { uuid } from "../validate.js";

/**
 * Who is above the policy: Rollcall's own services (service tokens) and platform operators
 * (user tokens with the `staff` claim). They act in any organisation and every check allows
 * them; tenants' users and devices are decided by their organisation's roles.
 */
export function isPlatform(caller: Caller): boolean {
  return caller.kind === "service" || caller.platformStaff;
}

/** The authenticated caller of a method that is not public (the interceptor guarantees one). */
export function callerOf(ctx: CallContext): Caller {
  if (!ctx.caller) throw unauthenticated("this call needs an access token");
  return ctx.caller;
}

/**
 * The organisation a request is about: the one named, or the caller's own when empty. Naming
 * another organisation needs platform rights; tenants never reach each other.
 */
export function targetOrganization(ctx: CallContext, requested: string, field = "organization_id"): string {
  const caller = callerOf(ctx);
  const own = caller.organizationId;
  if (!requested || requested === own) {
    if (!own) throw invalidArgument(field, "is required: this caller has no organisation of its own");
    return own;
  }
  const named = uuid(field, requested);
  if (!isPlatform(caller)) throw permissionDenied(`your token is for organisation ${own}; only platform operators may act in organisation ${named}`);
  return named;
}
