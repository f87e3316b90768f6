import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { Metadata, status } from "@grpc/grpc-js";
import { Scope, type CheckRequest } from "../../gen/rollcall/authz/v1/authz_pb.js";
import type { Caller } from "../../services/runtime/auth/caller.js";
import { publishPolicyChanged } from "../../services/runtime/authz/policy-changed.js";
import { RemoteAuthorizer } from "../../services/runtime/authz/remote-authorizer.js";
import { AppError } from "../../services/runtime/errors.js";
import type { CallContext } from "../../services/runtime/grpc/context.js";
import { createLogger } from "../../services/runtime/logger.js";
import type { MeshClients } from "../../services/runtime/mesh-clients.js";
import { openTestBus, type TestBus } from "../support/bus.js";

const logger = createLogger("silent");
const ORG = randomUUID();

/** An AuthzService stand-in that counts calls and answers at a revision the test sets. */
class FakeAuthz {
  calls: CheckRequest[] = [];
  revision = 1n;
  allow = true;
  delayMs = 0;

  clients(): MeshClients {
    const check = async (req: CheckRequest) => {
      this.calls.push(req);
      const revision = this.revision;
      const allowed = this.allow;
      await sleep(this.delayMs);
      return { allowed, reason: allowed ? "role X grants it" : "no role of the subject grants it", decidedByRole: allowed ? "X" : "", scope: allowed ? Scope.OWN : Scope.NONE, revision };
    };
    return { get: () => ({ check }) } as unknown as MeshClients;
  }
}

function context(caller: Partial<Caller>): CallContext {
  const metadata = new Metadata();
  metadata.set("authorization", "Bearer token");
  return {
    caller: { kind: "user", subject: randomUUID(), organizationId: ORG, sessionId: undefined, roles: [], platformStaff: false, tokenId: "t", expiresAt: new Date(), ...caller },
    metadata, signal: new AbortController().signal, requestId: "r", peer: "p", client: { ip: "127.0.0.1", userAgent: "" }, deadline: undefined, logger, path: "/x", method: undefined as never,
  };
}

describe("RemoteAuthorizer (the client every service uses)", () => {
  let bus: TestBus;
  let fake: FakeAuthz;
  let authorizer: RemoteAuthorizer;

  beforeEach(async () => {
    bus = await openTestBus();
    fake = new FakeAuthz();
    authorizer = new RemoteAuthorizer(fake.clients(), { bus: bus.bus, logger, ttlMs: 60_000 });
  });
  afterEach(async () => {
    authorizer.close();
    await bus.cleanup();
  });

  it("asks once for identical checks, in flight or cached, with the owner reduced to own/other", async () => {
    fake.delayMs = 20;
    const ctx = context({});
    const subject = ctx.caller!.subject;
    await Promise.all(Array.from({ length: 10 }, () => authorizer.authorize(ctx, "attendance", "read", subject)));
    await authorizer.authorize(ctx, "attendance", "read", subject);
    assert.equal(fake.calls.length, 1);
    await authorizer.check(ctx, "attendance", "read", { ownerId: randomUUID() });
    await authorizer.check(ctx, "attendance", "read", { ownerId: randomUUID() });
    assert.equal(fake.calls.length, 2);
    assert.equal(await authorizer.resolveScope(ctx, "attendance", "read"), "OWN");
    assert.equal(fake.calls.length, 3);
  });

  it("throws PERMISSION_DENIED with the reason, and INVALID_ARGUMENT for an owner that is not a UUID", async () => {
    fake.allow = false;
    await assert.rejects(authorizer.authorize(context({}), "users", "delete"), (err: AppError) =>
      err.code === status.PERMISSION_DENIED && err.message === "not allowed to delete users: no role of the subject grants it");
    await assert.rejects(authorizer.authorize(context({}), "users", "read", "me"), (err: AppError) => err.code === status.INVALID_ARGUMENT);
  });

  it("drops an organisation's decisions when PolicyChanged announces a newer revision", async () => {
    const ctx = context({});
    assert.equal((await authorizer.check(ctx, "users", "read")).allowed, true);
    fake.allow = false;
    fake.revision = 2n;
    publishPolicyChanged(bus.bus, logger, randomUUID(), 7n, "role.updated"); // another organisation: no effect
    await sleep(50);
    assert.equal((await authorizer.check(ctx, "users", "read")).allowed, true);
    publishPolicyChanged(bus.bus, logger, ORG, 2n, "grant.revoked");
    const started = Date.now();
    while ((await authorizer.check(ctx, "users", "read")).allowed && Date.now() - started < 1000) await sleep(5);
    assert.equal((await authorizer.check(ctx, "users", "read")).allowed, false);
  });

  it("asks again for at_least_revision newer than the cached answer, and does not keep answers older than one heard of", async () => {
    const ctx = context({});
    await authorizer.check(ctx, "users", "read");
    fake.revision = 3n;
    assert.equal((await authorizer.check(ctx, "users", "read", { atLeastRevision: 3n })).revision, 3n);
    assert.equal(fake.calls.at(-1)?.atLeastRevision, 3n);

    // An answer made at revision 3 arrives after revision 4 was announced: used once, not kept.
    fake.delayMs = 50;
    const other = context({});
    const late = authorizer.check(other, "users", "read");
    await sleep(10);
    publishPolicyChanged(bus.bus, logger, ORG, 4n, "grant.revoked");
    await late;
    fake.delayMs = 0;
    const calls = fake.calls.length;
    await authorizer.check(other, "users", "read");
    assert.equal(fake.calls.length, calls + 1);
  });

  it("allows platform callers (services, staff) without asking", async () => {
    for (const caller of [{ kind: "service" as const, subject: "attendance", organizationId: undefined }, { platformStaff: true }]) {
      const decision = await authorizer.check(context(caller), "organizations", "create");
      assert.deepEqual([decision.allowed, decision.scope], [true, "ALL"]);
      assert.equal(await authorizer.resolveScope(context(caller), "users", "read"), "ALL");
    }
    assert.equal(fake.calls.length, 0);
  });
});
