import type { Cache } from "../../runtime/cache/cache.js";
import { resourceExhausted } from "../../runtime/errors.js";

/** How long failure counters remember: a day of quiet forgives. */
const COUNTER_TTL_MS = 24 * 3_600_000;

/**
 * Brute-force protection: failed logins are counted per account and per client IP in the shared
 * cache; past the threshold each further failure locks that key for twice as long as the last
 * (1 s, 2 s, 4 s … up to the maximum). A success clears the account's counter.
 */
export class Lockout {
  constructor(private readonly cache: Cache, private readonly options: { threshold: number; ipThreshold: number; maxSec: number }) {}

  static keys(orgCode: string, login: string, ip: string): string[] {
    const keys = [`login:fail:acct:${orgCode.toLowerCase()}:${login.toLowerCase()}`];
    if (ip) keys.push(`login:fail:ip:${ip}`);
    return keys;
  }

  private thresholdOf(key: string): number {
    return key.startsWith("login:fail:ip:") ? this.options.ipThreshold : this.options.threshold;
  }

  /** Throws RESOURCE_EXHAUSTED with the retry time while any of the keys is locked. */
  async check(keys: string[]): Promise<void> {
    const remaining = await Promise.all(keys.map((key) => this.cache.pttl(`${key}:lock`)));
    const wait = Math.max(0, ...remaining);
    if (wait > 0) throw resourceExhausted(`too many failed logins; try again in ${Math.ceil(wait / 1000)} s`, wait);
  }

  /** Records a failure; returns the lock it started, in ms (0 while under the threshold). */
  async fail(keys: string[]): Promise<number> {
    let longest = 0;
    for (const key of keys) {
      const failures = await this.cache.incr(key, COUNTER_TTL_MS);
      const threshold = this.thresholdOf(key);
      if (failures < threshold) continue;
      const lockMs = Math.min(2 ** (failures - threshold) * 1000, this.options.maxSec * 1000);
      await this.cache.set(`${key}:lock`, String(failures), lockMs);
      longest = Math.max(longest, lockMs);
    }
    return longest;
  }

  async succeed(accountKey: string): Promise<void> {
    await this.cache.del(accountKey, `${accountKey}:lock`);
  }
}
