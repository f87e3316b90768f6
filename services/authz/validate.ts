import { Scope } from "../../gen/rollcall/authz/v1/authz_pb.js";
import { invalidArgument } from "../runtime/errors.js";
import { text } from "../runtime/validate.js";
import type { ScopeName } from "./policy/catalogue.js";

/** Validators of authz's own fields; generic ones (uuid, text) are in runtime/validate.ts. */

const NAME = /^[a-z0-9_]{1,64}$/;
const COLOR = /^#[0-9a-f]{6}$/i;

/** A resource or action name as stored: 1–64 of a–z, 0–9, '_'. */
export function identifier(field: string, value: string): string {
  if (!NAME.test(value)) throw invalidArgument(field, `must be 1–64 characters of a–z, 0–9 and _ (got ${quoted(value)})`);
  return value;
}

/**
 * A resource or action named in a check: required and at most 64 characters. Whether it exists
 * is the policy's answer (INVALID_ARGUMENT listing what does).
 */
export function checkedName(field: string, value: string): string {
  if (value.length === 0) throw invalidArgument(field, "is required");
  if (value.length > 64) throw invalidArgument(field, `must be at most 64 characters (got ${value.length})`);
  return value;
}

export function roleName(field: string, value: string): string {
  const name = text(field, value, { min: 1, max: 64 });
  if (/[\u0000-\u001f\u007f]/.test(name)) throw invalidArgument(field, "must not contain control characters");
  return name;
}

export function description(field: string, value: string): string {
  return text(field, value, { max: 500 });
}

/** "#RRGGBB" (stored upper-case) or empty for none. */
export function color(field: string, value: string): string {
  if (value === "") return "";
  if (!COLOR.test(value)) throw invalidArgument(field, `must be a colour "#RRGGBB" or empty (got ${quoted(value)})`);
  return value.toUpperCase();
}

export function grantScope(field: string, scope: Scope): ScopeName {
  if (scope === Scope.OWN) return "OWN";
  if (scope === Scope.ALL) return "ALL";
  throw invalidArgument(field, "must be SCOPE_OWN or SCOPE_ALL");
}

export function toScope(scope: ScopeName): Scope {
  return scope === "ALL" ? Scope.ALL : Scope.OWN;
}

export function atLeastRevision(field: string, value: bigint | undefined): bigint | undefined {
  if (value !== undefined && value < 0n) throw invalidArgument(field, `must not be negative (got ${value})`);
  return value;
}

function quoted(value: string): string {
  return JSON.stringify(value.length > 64 ? `${value.slice(0, 64)}…` : value);
}
