import { permissionDenied } from "../runtime/errors.js";
import type { Caller } from "../runtime/auth/caller.js";
import type { CallContext } from "../runtime/grpc/context.js";
import { callerOf, isPlatform } from "../runtime/authz/callers.js";

/**
 * Methods only platform operators (staff users) and Rollcall's own services may call. The other
 * caller checks (callerOf, isPlatform, targetOrganization) are the runtime's, in
 * services/runtime/authz/callers.ts.
 */
export function requirePlatform(ctx: CallContext, what: string): Caller {
  const caller = callerOf(ctx);
  if (!isPlatform(caller)) throw permissionDenied(`only platform operators may ${what}`);
  return caller;
}
