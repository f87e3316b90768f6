import type { Logger } from "../logger.js";
import { MemoryCache } from "./memory-cache.js";
import { RedisCache } from "./redis-cache.js";

/**
 * A small key/value cache with Redis semantics. Values are strings; TTLs are in milliseconds.
 * Keys are relative: the Redis implementation prefixes them with `keyPrefix`.
 */
export interface Cache {
  get(key: string): Promise<string | null>;
  /** One round trip for several keys; the result has one entry per key, in order. */
  mget(...keys: string[]): Promise<(string | null)[]>;
  /** Writes the value; without a ttl the key never expires (an earlier ttl is cleared). */
  set(key: string, value: string, ttlMs?: number): Promise<void>;
  /** Writes only when the key is missing; true when it wrote. */
  setIfAbsent(key: string, value: string, ttlMs?: number): Promise<boolean>;
  /** Number of keys that existed and were deleted. */
  del(...keys: string[]): Promise<number>;
  exists(key: string): Promise<boolean>;
  /** Adds one and returns the new value; a missing key counts from 0 and gets `ttlMs`, an existing key keeps its ttl. */
  incr(key: string, ttlMs?: number): Promise<number>;
  /** Remaining time to live in ms; -1 when the key has no ttl, -2 when it is missing. */
  pttl(key: string): Promise<number>;
  /** Sets a ttl on an existing key; false when the key is missing. */
  expire(key: string, ttlMs: number): Promise<boolean>;
  ping(): Promise<void>;
  close(): Promise<void>;
}

export interface CacheOptions {
  /** `redis://…`; without it the cache lives in this process's memory. */
  url?: string;
  /** Prepended to every key in Redis, e.g. "rollcall:". */
  keyPrefix?: string;
  logger: Logger;
}

export function createCache(options: CacheOptions): Cache {
  const logger = options.logger.child({ component: "cache" });
  if (options.url) return new RedisCache({ url: options.url, keyPrefix: options.keyPrefix, logger });
  logger.info("no Redis URL configured: using the in-process cache");
  return new MemoryCache();
}
