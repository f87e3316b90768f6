import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { status } from "@grpc/grpc-js";
import { PolicyCache } from "../../services/authz/policy/policy-cache.js";
import type { PolicyRows } from "../../services/authz/policy/compiled-policy.js";
import type { Refresh } from "../../services/authz/store/policy-store.js";
import { AppError } from "../../services/runtime/errors.js";
import { createLogger } from "../../services/runtime/logger.js";

const ORG = randomUUID();
const USER = randomUUID();
const ROLE = randomUUID();

/** A database stand-in: one organisation whose revision the test moves; USER holds ROLE from revision 2 on. */
class FakeStore {
  revision = 1n;
  loads = 0;
  /** Resolves the next load when set; lets a test hold a load in flight. */
  gate: Promise<void> | undefined;

  async refresh(organizationId: string, loaded: bigint | undefined): Promise<Refresh> {
    this.loads++;
    const revision = this.revision; // read first, as the real store does
    await this.gate;
    if (loaded === revision) return { kind: "current", revision };
    return { kind: "full", rows: rows(organizationId, revision) };
  }

  async revisions(ids: readonly string[]): Promise<Map<string, bigint>> {
    return new Map(ids.map((id) => [id, this.revision]));
  }
}

function rows(organizationId: string, revision: bigint): PolicyRows {
  const resource = randomUUID();
  const permission = randomUUID();
  return {
    organizationId, revision,
    resources: [{ id: resource, name: "attendance", hasOwner: true, isActive: true }],
    permissions: [{ id: permission, resourceId: resource, action: "read" }],
    roles: [{ id: ROLE, name: "USER" }],
    grants: [{ roleId: ROLE, permissionId: permission, scope: "OWN" }],
    subjects: revision >= 2n ? [{ subjectId: USER, roleIds: [ROLE] }] : [],
  };
}

describe("authz policy cache", () => {
  let store: FakeStore;
  let cache: PolicyCache;
  const open = (pollMs = 60_000) => (cache = new PolicyCache({ store, logger: createLogger("silent"), pollMs }));
  const allowed = async (atLeast?: bigint) => (await cache.policy(ORG, atLeast)).check(USER, "attendance", "read").allowed;

  beforeEach(() => {
    store = new FakeStore();
  });
  afterEach(() => cache?.close());

  it("catches up by polling within a second when a PolicyChanged message is lost", async () => {
    open(100);
    assert.equal(await allowed(), false);
    store.revision = 2n; // committed, but never announced
    const started = Date.now();
    while (cache.loadedRevision(ORG) !== 2n && Date.now() - started < 1000) await sleep(10);
    assert.equal(cache.loadedRevision(ORG), 2n);
    assert.equal(await allowed(), true);
  });

  it("shares one load between the checks that arrive while it runs", async () => {
    open();
    const results = await Promise.all(Array.from({ length: 50 }, () => allowed()));
    assert.deepEqual(new Set(results), new Set([false]));
    assert.equal(store.loads, 1);
  });

  it("does not trust a load that began before a revision it is asked for", async () => {
    open();
    let release!: () => void;
    store.gate = new Promise((resolve) => (release = resolve));
    const first = cache.policy(ORG); // reads revision 1, then waits at the gate
    await sleep(5);
    store.revision = 2n; // committed while that load is in flight
    const second = cache.policy(ORG, 2n);
    release();
    assert.equal((await first).revision, 1n);
    assert.equal((await second).revision, 2n);
    assert.equal(store.loads, 2);
  });

  it("refreshes before answering once a newer revision is announced", async () => {
    open();
    assert.equal(await allowed(), false);
    store.revision = 2n;
    cache.noteRevision(ORG, 2n);
    assert.equal(await allowed(), true);
  });

  it("refuses a revision the database has not reached, saying which is the newest", async () => {
    open();
    await assert.rejects(cache.policy(ORG, 5n), (err: AppError) => err.code === status.FAILED_PRECONDITION && /revision 5 .* does not exist yet \(the newest is 1\)/.test(err.message));
  });

  it("believes the database over an announced revision it does not have", async () => {
    open();
    cache.noteRevision(ORG, 9n);
    assert.equal((await cache.policy(ORG)).revision, 1n);
    const loads = store.loads;
    await cache.policy(ORG);
    assert.equal(store.loads, loads, "the bogus revision must not make every check reload");
  });
});
