import { permissionDenied, unauthenticated } from "../runtime/errors.js";
import type { Caller } from "../runtime/auth/caller.js";
import type { CallContext } from "../runtime/grpc/context.js";

/** The authenticated caller of a non-public method (the interceptor guarantees one). */
export function callerOf(ctx: CallContext): Caller {
  if (!ctx.caller) throw unauthenticated("this call needs an access token");
  return ctx.caller;
}

/** Platform operators (staff users) and Rollcall's own services act across organisations. */
export function isPlatform(caller: Caller): boolean {
  return caller.platformStaff || caller.kind === "service";
}

export function requirePlatform(ctx: CallContext, what: string): Caller {
  const caller = callerOf(ctx);
  if (!isPlatform(caller)) throw permissionDenied(`only platform operators may ${what}`);
  return caller;
}

/**
 * The organisation a request is about: the one named, or the caller's own. Naming another
 * organisation needs platform rights; tenants never reach each other.
 */
export function targetOrganization(ctx: CallContext, requested: string): string {
  const caller = callerOf(ctx);
  const own = caller.organizationId;
  if (!requested || requested === own) {
    if (!own) throw permissionDenied("name the organisation: this caller has none of its own");
    return own;
  }
  if (!isPlatform(caller)) throw permissionDenied("you may only act in your own organisation");
  return requested;
}
