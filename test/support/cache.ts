import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import { createCache, type Cache } from "../../services/runtime/cache/cache.js";
import { createLogger } from "../../services/runtime/logger.js";

/** Quiet unless LOG_LEVEL asks otherwise. */
export const testCacheLogger = createLogger(process.env.LOG_LEVEL ?? "silent");

export type CacheKind = "memory" | "redis";

export interface TestCache {
  cache: Cache;
  kind: CacheKind;
  keyPrefix: string;
  /** Deletes every key written under this cache's prefix, then closes it. */
  cleanup(): Promise<void>;
}

/** The memory cache always; Redis too when REDIS_URL is set. */
export function testCacheKinds(): CacheKind[] {
  return process.env.REDIS_URL ? ["memory", "redis"] : ["memory"];
}

/** A cache whose keys (on Redis) live under a prefix unique to this call, so runs never collide. */
export async function openTestCache(kind: CacheKind = process.env.REDIS_URL ? "redis" : "memory"): Promise<TestCache> {
  const keyPrefix = `test:${process.pid}:${randomBytes(4).toString("hex")}:`;
  const url = kind === "redis" ? requiredEnv("REDIS_URL") : undefined;
  const cache = createCache({ url, keyPrefix, logger: testCacheLogger });
  return {
    cache,
    kind,
    keyPrefix,
    async cleanup() {
      try {
        await cache.close();
      } finally {
        if (url) await deleteKeysWithPrefix(url, keyPrefix);
      }
    },
  };
}

async function deleteKeysWithPrefix(url: string, keyPrefix: string): Promise<void> {
  const admin = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    let cursor = "0";
    do {
      const [next, keys] = await admin.scan(cursor, "MATCH", `${keyPrefix}*`, "COUNT", 500);
      if (keys.length > 0) await admin.unlink(...keys);
      cursor = next;
    } while (cursor !== "0");
  } finally {
    admin.disconnect();
  }
}

function requiredEnv(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} must be set to open a real test backend`);
  return value;
}
