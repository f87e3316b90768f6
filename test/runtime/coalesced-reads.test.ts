import assert from "node:assert/strict";
import { CoalescedReads } from "../../services/runtime/auth/coalesced-reads.js";
import { CacheRevocationList, revocationKeys } from "../../services/runtime/auth/revocation.js";
import { MemoryCache } from "../../services/runtime/cache/memory-cache.js";
import { unavailable } from "../../services/runtime/errors.js";

/** A MemoryCache that records the MGETs it answers. */
class CountingCache extends MemoryCache {
  readonly mgets: string[][] = [];
  failWith: Error | undefined;

  override async mget(...keys: string[]): Promise<(string | null)[]> {
    this.mgets.push(keys);
    if (this.failWith) throw this.failWith;
    return super.mget(...keys);
  }
}

describe("coalesced cache reads (the revocation list's lookups)", () => {
  it("answers the reads begun in one turn with one MGET of their distinct keys, each in its own order", async () => {
    const cache = new CountingCache();
    await cache.set("a", "1");
    await cache.set("c", "3");
    const reads = new CoalescedReads(cache);
    const answers = await Promise.all([reads.get(["a", "b"]), reads.get(["c"]), reads.get(["b", "a"])]);
    assert.deepEqual(answers, [["1", null], ["3"], [null, "1"]]);
    assert.deepEqual(cache.mgets, [["a", "b", "c"]]);
  });

  it("sends a full round at once and starts another, so a busy turn needs no single reply for all its calls", async () => {
    const cache = new CountingCache();
    const reads = new CoalescedReads(cache);
    const answers = await Promise.all(Array.from({ length: 40 }, (_, i) => reads.get([`k${i}`])));
    assert.equal(answers.length, 40);
    assert.deepEqual(cache.mgets.map((keys) => keys.length), [16, 16, 8]);
  });

  it("answers a read begun after a write with a command sent after it: nothing written before is missed", async () => {
    const cache = new CountingCache();
    const reads = new CoalescedReads(cache);
    assert.deepEqual(await reads.get(["x"]), [null]);
    await cache.set("x", "now");
    assert.deepEqual(await reads.get(["x"]), ["now"]);
    assert.equal(cache.mgets.length, 2);
  });

  it("gives every read of a failed round the cache's error", async () => {
    const cache = new CountingCache();
    cache.failWith = unavailable("Redis at 127.0.0.1:6379 is unavailable");
    const reads = new CoalescedReads(cache);
    const results = await Promise.allSettled([reads.get(["a"]), reads.get(["b"])]);
    assert.deepEqual(results.map((r) => r.status), ["rejected", "rejected"]);
    assert.equal(cache.mgets.length, 1);
  });

  it("refuses a revoked session and a blocked organisation of calls made in the same turn as others", async () => {
    const cache = new CountingCache();
    await cache.set(revocationKeys.session("s-revoked"), "logout");
    await cache.set(revocationKeys.organization("org-blocked"), "SUSPENDED");
    const list = new CacheRevocationList(cache);
    const reasons = await Promise.all([
      list.reasonToRefuse({ sessionId: "s-ok", organizationId: "org-ok" }),
      list.reasonToRefuse({ sessionId: "s-revoked", organizationId: "org-ok" }),
      list.reasonToRefuse({ organizationId: "org-blocked" }),
      list.reasonToRefuse({ sessionId: "s-ok", organizationId: "org-blocked" }),
      list.reasonToRefuse({}),
    ]);
    assert.deepEqual(reasons, [
      undefined,
      "session was revoked; log in again",
      "organisation is suspended; its tokens no longer work",
      "organisation is suspended; its tokens no longer work",
      undefined,
    ]);
    assert.equal(cache.mgets.length, 1);
  });
});
