import { invalidArgument } from "./errors.js";

/** Field validators: each returns the cleaned value or throws INVALID_ARGUMENT naming the field. */

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
// Pragmatic RFC 5321/5322 subset: one @, no spaces, a dotted domain.
const EMAIL = /^[^\s@"(),:;<>[\\\]]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$/;
const E164 = /^\+[1-9]\d{6,14}$/;
const SLUG = /^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$/;
const DATE = /^\d{4}-\d{2}-\d{2}$/;

export function uuid(field: string, value: string): string {
  if (!UUID.test(value)) throw invalidArgument(field, `must be a UUID (got "${value.slice(0, 64)}")`);
  return value.toLowerCase();
}

export function text(field: string, value: string, { min = 0, max }: { min?: number; max: number }): string {
  const trimmed = value.trim();
  if (trimmed.length < min) throw invalidArgument(field, min === 1 ? "is required" : `must be at least ${min} characters`);
  if (trimmed.length > max) throw invalidArgument(field, `must be at most ${max} characters (got ${trimmed.length})`);
  return trimmed;
}

export function email(field: string, value: string): string {
  const trimmed = value.trim();
  if (trimmed.length > 254 || !EMAIL.test(trimmed)) throw invalidArgument(field, `"${trimmed.slice(0, 64)}" is not a valid email address`);
  return trimmed;
}

export function phoneE164(field: string, value: string): string {
  const trimmed = value.trim();
  if (trimmed === "") return "";
  if (!E164.test(trimmed)) throw invalidArgument(field, `must be in E.164 form, e.g. +14155550123 (got "${trimmed.slice(0, 32)}")`);
  return trimmed;
}

export function slug(field: string, value: string): string {
  const trimmed = value.trim().toLowerCase();
  if (!SLUG.test(trimmed)) throw invalidArgument(field, "must be 1–64 lower-case letters, digits or '-', not starting or ending with '-'");
  return trimmed;
}

export function timezone(field: string, value: string): string {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: value });
    return value;
  } catch {
    throw invalidArgument(field, `"${value.slice(0, 64)}" is not an IANA time zone such as Europe/Berlin`);
  }
}

/** YYYY-MM-DD that is a real date, not in the future, not before 1900. Empty stays empty. */
export function pastDate(field: string, value: string): string {
  if (value === "") return "";
  const date = new Date(`${value}T00:00:00Z`);
  if (!DATE.test(value) || Number.isNaN(date.getTime()) || date.toISOString().slice(0, 10) !== value) {
    throw invalidArgument(field, `must be a date as YYYY-MM-DD (got "${value.slice(0, 32)}")`);
  }
  if (date.getTime() > Date.now() || date.getUTCFullYear() < 1900) throw invalidArgument(field, "must be between 1900 and today");
  return value;
}
