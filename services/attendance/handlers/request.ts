import type { Authorizer, ScopeName } from "../../runtime/authz/authorizer.js";
import { callerOf } from "../../runtime/authz/callers.js";
import { invalidArgument, permissionDenied } from "../../runtime/errors.js";
import type { CallContext } from "../../runtime/grpc/context.js";
import * as v from "../../runtime/validate.js";
import { daysBetween } from "../domain/calendar.js";

const DATE = /^\d{4}-\d{2}-\d{2}$/;
const MAX_RANGE_DAYS = 366;

/** A required organisation-local date, YYYY-MM-DD, that exists in the calendar. */
export function date(field: string, value: string): string {
  if (!value) throw invalidArgument(field, "is required (YYYY-MM-DD)");
  const parsed = new Date(`${value}T00:00:00Z`);
  if (!DATE.test(value) || Number.isNaN(parsed.getTime()) || parsed.toISOString().slice(0, 10) !== value) {
    throw invalidArgument(field, `must be a date as YYYY-MM-DD (got "${value.slice(0, 32)}")`);
  }
  return value;
}

export function dateRange(from: string, to: string): { from: string; to: string } {
  const range = { from: date("from_date", from), to: date("to_date", to) };
  const days = daysBetween(range.from, range.to);
  if (days < 0) throw invalidArgument("to_date", `must not be before from_date (${range.from})`);
  if (days > MAX_RANGE_DAYS) throw invalidArgument("to_date", `must be at most ${MAX_RANGE_DAYS} days after from_date (got ${days})`);
  return range;
}

export function optionalUuid(field: string, value: string): string {
  return value ? v.uuid(field, value) : "";
}

/** The user a per-person call is about: the one named, or the caller. */
export function personOf(ctx: CallContext, requested: string, field = "user_id"): string {
  return requested ? v.uuid(field, requested) : callerOf(ctx).subject;
}

export function reason(value: string): string {
  return v.text("reason", value, { min: 1, max: 500 });
}

/**
 * Whose attendance a listing may show: everyone's (undefined) with an ALL grant, only the
 * caller's with an OWN grant (asking for someone else is then PERMISSION_DENIED), nobody's
 * without a grant.
 */
export async function readableUser(ctx: CallContext, authz: Authorizer, action: string, requestedUserId: string): Promise<string | undefined> {
  const scope: ScopeName = await authz.resolveScope(ctx, "attendance", action);
  if (scope === "NONE") throw permissionDenied(`not allowed to ${action} attendance`);
  if (scope === "ALL") return requestedUserId || undefined;
  const self = callerOf(ctx).subject;
  if (requestedUserId && requestedUserId !== self) throw permissionDenied(`you may ${action} only your own attendance`);
  return self;
}
