import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { status } from "@grpc/grpc-js";
import type { Cache } from "../../services/runtime/cache/cache.js";
import { MemoryCache } from "../../services/runtime/cache/memory-cache.js";
import { RedisCache } from "../../services/runtime/cache/redis-cache.js";
import { AppError } from "../../services/runtime/errors.js";
import { openTestCache, testCacheKinds, testCacheLogger, type TestCache } from "../support/cache.js";

for (const kind of testCacheKinds()) {
  describe(`Cache (${kind})`, () => {
    let testCache: TestCache;
    let cache: Cache;

    beforeEach(async () => {
      testCache = await openTestCache(kind);
      cache = testCache.cache;
    });
    afterEach(() => testCache.cleanup());

    it("sets, gets, checks and deletes keys", async () => {
      assert.equal(await cache.get("a"), null);
      await cache.set("a", "1");
      await cache.set("b", "2");
      assert.equal(await cache.get("a"), "1");
      assert.equal(await cache.exists("a"), true);
      assert.deepEqual(await cache.mget("a", "missing", "b"), ["1", null, "2"]);
      assert.deepEqual(await cache.mget(), []);
      assert.equal(await cache.del("a", "b", "missing"), 2);
      assert.equal(await cache.del(), 0);
      assert.equal(await cache.exists("a"), false);
    });

    it("expires a key after its ttl", async () => {
      await cache.set("short", "v", 150);
      const ttl = await cache.pttl("short");
      assert.ok(ttl > 0 && ttl <= 150, `pttl ${ttl}`);
      await sleep(200);
      assert.equal(await cache.get("short"), null);
      assert.equal(await cache.exists("short"), false);
      assert.equal(await cache.pttl("short"), -2);
    });

    it("reports -1 for a key without ttl and clears a ttl when set again without one", async () => {
      await cache.set("k", "v", 150);
      await cache.set("k", "w");
      assert.equal(await cache.pttl("k"), -1);
      await sleep(200);
      assert.equal(await cache.get("k"), "w");
    });

    it("setIfAbsent writes only a missing key, with its ttl", async () => {
      assert.equal(await cache.setIfAbsent("lock", "first", 150), true);
      assert.equal(await cache.setIfAbsent("lock", "second", 10_000), false);
      assert.equal(await cache.get("lock"), "first");
      assert.ok((await cache.pttl("lock")) <= 150);
      await sleep(200);
      assert.equal(await cache.setIfAbsent("lock", "third"), true);
      assert.equal(await cache.get("lock"), "third");
      assert.equal(await cache.pttl("lock"), -1);
    });

    it("incr counts from 1 and applies the ttl only when it creates the key", async () => {
      assert.equal(await cache.incr("fails", 150), 1);
      assert.equal(await cache.incr("fails", 60_000), 2);
      assert.equal(await cache.incr("fails"), 3);
      const ttl = await cache.pttl("fails");
      assert.ok(ttl > 0 && ttl <= 150, `pttl ${ttl}`);
      await sleep(200);
      assert.equal(await cache.incr("fails", 60_000), 1);
      assert.ok((await cache.pttl("fails")) > 150);
    });

    it("incr without ttl makes a key that never expires, and continues a numeric value", async () => {
      assert.equal(await cache.incr("n"), 1);
      assert.equal(await cache.pttl("n"), -1);
      await cache.set("m", "41");
      assert.equal(await cache.incr("m"), 42);
    });

    it("incr rejects a value that is not an integer", async () => {
      await cache.set("word", "hello");
      await assert.rejects(cache.incr("word"), /not an integer/);
    });

    it("expire sets a ttl on an existing key only", async () => {
      assert.equal(await cache.expire("nothing", 1_000), false);
      await cache.set("k", "v");
      assert.equal(await cache.expire("k", 150), true);
      assert.ok((await cache.pttl("k")) <= 150);
      await sleep(200);
      assert.equal(await cache.exists("k"), false);
    });

    it("rejects a ttl that is not positive", async () => {
      await assert.rejects(cache.set("k", "v", 0), (err: AppError) => err.code === status.INVALID_ARGUMENT);
      await assert.rejects(cache.incr("k", -5), (err: AppError) => err.code === status.INVALID_ARGUMENT);
    });

    it("answers ping", async () => {
      await cache.ping();
    });
  });
}

describe("MemoryCache", () => {
  it("purges expired keys nobody reads again", async () => {
    const cache = new MemoryCache({ sweepIntervalMs: 50 });
    try {
      await cache.set("gone", "v", 20);
      await cache.set("kept", "v");
      assert.equal(cache.size, 2);
      await sleep(120);
      assert.equal(cache.size, 1);
    } finally {
      await cache.close();
    }
  });
});

describe("RedisCache when Redis is unreachable", () => {
  it("fails commands quickly with UNAVAILABLE instead of queueing them", async () => {
    const cache = new RedisCache({ url: "redis://127.0.0.1:1", logger: testCacheLogger });
    try {
      for (const attempt of [1, 2, 3]) {
        const started = Date.now();
        await assert.rejects(cache.get("k"), (err: AppError) => {
          assert.equal(err.code, status.UNAVAILABLE);
          assert.match(err.message, /Redis at 127\.0\.0\.1:1 is unavailable \(not connected/);
          return true;
        });
        const elapsed = Date.now() - started;
        assert.ok(elapsed < 1_100, `attempt ${attempt} took ${elapsed} ms`);
      }
    } finally {
      await cache.close();
    }
  });
});
