import { invalidArgument } from "../errors.js";

/** Redis accepts only whole, positive milliseconds; both implementations round the same way. */
export function checkTtl(ttlMs: number): number {
  if (!Number.isFinite(ttlMs) || ttlMs <= 0) throw invalidArgument("ttlMs", `must be a positive number of milliseconds, got ${ttlMs}`);
  return Math.ceil(ttlMs);
}
