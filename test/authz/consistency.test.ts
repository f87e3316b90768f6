import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { status } from "@grpc/grpc-js";
import { Scope } from "../../gen/rollcall/authz/v1/authz_pb.js";
import { PolicyStore } from "../../services/authz/store/policy-store.js";
import { AuthzWorld, type Session } from "./support/harness.js";
import { rejectsWith, seededOrganization, type SeededOrganization } from "./support/organizations.js";

/**
 * Two authz replicas on one database and one bus, as in production. Their fallbacks for lost
 * PolicyChanged messages (poll, decision lifetime) are set to a minute, so whatever is seen
 * within a second here came through the bus; policy-cache.test.ts covers the poll.
 */
describe("authz consistency: revisions, at_least_revision, and revocation across replicas", function () {
  this.timeout(60_000);
  let world: AuthzWorld;
  let platform: Session;
  let org: SeededOrganization;

  before(async () => {
    world = await AuthzWorld.open(2, { pollMs: 60_000, ttlMs: 60_000 });
    platform = await world.service();
    org = await seededOrganization(world, platform);
  });
  after(async () => world?.close());

  const readAttendance = (s: Session, atLeastRevision?: bigint) =>
    s.decisions.check({ subjectId: s.who.subject, organizationId: org.id, resource: "attendance", action: "read", ownerId: randomUUID(), atLeastRevision });

  it("counts revisions: 0 before seeding, one per write, none for a write that changes nothing", async () => {
    const id = randomUUID();
    const revision = async () => (await platform.admin.getRevision({ organizationId: id })).revision;
    assert.equal(await revision(), 0n);
    const seeded = await platform.admin.seedOrganization({ organizationId: id });
    assert.deepEqual([seeded.created, seeded.revision, seeded.roles.map((r) => r.name)], [true, 1n, ["ADMIN", "OPERATOR", "USER"]]);
    const again = await platform.admin.seedOrganization({ organizationId: id });
    assert.deepEqual([again.created, again.revision], [false, 1n]);

    const user = randomUUID();
    assert.equal((await platform.admin.assignRole({ organizationId: id, userId: user, roleName: "USER" })).revision, 2n);
    assert.equal((await platform.admin.assignRole({ organizationId: id, userId: user, roleName: "USER" })).revision, 2n);
    const role = seeded.roles[2]!;
    assert.equal((await platform.admin.revokeGrant({ roleId: role.id, permissionId: randomUUID() })).revision, 2n);
    assert.equal((await platform.admin.unassignRole({ organizationId: id, userId: user, roleName: "USER" })).revision, 3n);
    assert.equal(await revision(), 3n);
  });

  it("answers at_least_revision from that revision or newer, at once, on any replica", async () => {
    const operator = await world.as({ kind: "user", subject: org.operator, organizationId: org.id }, 1);
    assert.equal((await readAttendance(operator)).allowed, true); // replica 1 has the policy loaded

    const { revision } = await org.sessions.admin.admin.unassignRole({ userId: org.operator, roleName: "OPERATOR" });
    const after = await readAttendance(operator, revision);
    assert.equal(after.allowed, false);
    assert.ok(after.revision >= revision);

    await rejectsWith(readAttendance(operator, revision + 100n), status.FAILED_PRECONDITION, new RegExp(`policy revision ${revision + 100n} of organisation .* does not exist yet`));
    await org.sessions.admin.admin.assignRole({ userId: org.operator, roleName: "OPERATOR" });
  });

  it("stops a revoked role within a second for every replica and every service's cache, through the bus", async () => {
    const subject = randomUUID();
    const { revision: granted } = await org.sessions.admin.admin.assignRole({ userId: subject, roleName: "OPERATOR" });
    const sessions = [await world.as({ kind: "user", subject, organizationId: org.id }, 0), await world.as({ kind: "user", subject, organizationId: org.id }, 1)];
    // Each replica and each replica's RemoteAuthorizer (what other services use) has answered once, and cached.
    const viewers = sessions.flatMap((s, i) => [
      { name: `replica ${i}`, allowed: async () => (await readAttendance(s)).allowed },
      { name: `authorizer ${i}`, allowed: async () => (await world.replicas[i]!.authorizer.check(s.context(), "attendance", "read", { ownerId: org.user })).allowed },
    ]);
    for (const v of viewers) {
      assert.equal((await readAttendance(sessions[0]!, granted)).allowed, true);
      assert.equal(await v.allowed(), true, v.name);
    }

    const started = performance.now();
    await org.sessions.admin.admin.unassignRole({ userId: subject, roleName: "OPERATOR" });
    const seenAfter: Record<string, number> = {};
    while (Object.keys(seenAfter).length < viewers.length && performance.now() - started < 3000) {
      for (const v of viewers) if (!(v.name in seenAfter) && !(await v.allowed())) seenAfter[v.name] = performance.now() - started;
      await sleep(5);
    }
    for (const v of viewers) assert.ok((seenAfter[v.name] ?? Infinity) < 1000, `${v.name} saw the revocation after ${seenAfter[v.name]} ms`);
  });

  it("catches up on an assignment by that subject alone, and on anything else by a reload", async () => {
    const store = new PolicyStore(world.db);
    const before = await platform.admin.getRevision({ organizationId: org.id });
    const subject = randomUUID();
    await org.sessions.admin.admin.assignRole({ userId: subject, roleName: "USER" });
    const delta = await store.refresh(org.id, before.revision);
    assert.equal(delta.kind, "subjects");
    if (delta.kind === "subjects") assert.deepEqual(delta.subjects.map((s) => [s.subjectId, s.roleIds.length]), [[subject, 1]]);

    const { roles } = await org.sessions.admin.admin.listRoles({});
    const user = roles.find((r) => r.name === "USER")!;
    const { grants } = await org.sessions.admin.admin.listGrants({ roleId: user.id });
    const mid = (await platform.admin.getRevision({ organizationId: org.id })).revision;
    await org.sessions.admin.admin.grantPermission({ roleId: user.id, permissionId: grants[0]!.permissionId, scope: Scope.ALL });
    assert.equal((await store.refresh(org.id, mid)).kind, "full");
    assert.equal((await store.refresh(org.id, mid + 1n)).kind, "current");
  });

  it("never lets the last ADMIN go, even when two administrators remove each other at once", async () => {
    await rejectsWith(org.sessions.admin.admin.unassignRole({ userId: org.admin, roleName: "ADMIN" }), status.FAILED_PRECONDITION, /last ADMIN of this organisation/);
    const second = randomUUID();
    await org.sessions.admin.admin.assignRole({ userId: second, roleName: "ADMIN" });
    const secondAdmin = await world.as({ kind: "user", subject: second, organizationId: org.id }, 1);
    const outcomes = await Promise.allSettled([
      org.sessions.admin.admin.unassignRole({ userId: second, roleName: "ADMIN" }),
      secondAdmin.admin.unassignRole({ userId: org.admin, roleName: "ADMIN" }),
    ]);
    assert.equal(outcomes.filter((o) => o.status === "fulfilled").length, 1, JSON.stringify(outcomes.map((o) => o.status)));
    const { roles } = await platform.admin.listRoles({ organizationId: org.id });
    const members = await platform.admin.listRoleMembers({ roleId: roles.find((r) => r.name === "ADMIN")!.id });
    assert.equal(members.userRoles.length, 1);
  });
});
