import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { status } from "@grpc/grpc-js";
import { Scope } from "../../gen/rollcall/authz/v1/authz_pb.js";
import { DEFAULT_GRANTS } from "../../services/authz/policy/catalogue.js";
import { AuthzWorld, type Session } from "./support/harness.js";
import { rejectsWith, seededOrganization, type SeededOrganization } from "./support/organizations.js";

describe("authz conformance", function () {
  this.timeout(60_000);
  let world: AuthzWorld;
  let platform: Session;
  let a: SeededOrganization;
  let b: SeededOrganization;

  before(async () => {
    world = await AuthzWorld.open();
    platform = await world.service();
    a = await seededOrganization(world, platform);
    b = await seededOrganization(world, platform);
  });
  after(async () => world?.close());

  const check = (s: Session, org: SeededOrganization, resource: string, action: string, ownerId?: string) =>
    s.decisions.check({ subjectId: s.who.subject, organizationId: org.id, resource, action, ownerId });

  describe("the seeded defaults", () => {
    it("let a USER read their own attendance but not someone else's", async () => {
      const own = await check(a.sessions.user, a, "attendance", "read", a.user);
      assert.equal(own.allowed, true);
      assert.equal(own.decidedByRole, "USER");
      assert.equal(own.scope, Scope.OWN);
      assert.equal(own.reason, "role USER grants attendance.read OWN");

      const others = await check(a.sessions.user, a, "attendance", "read", a.otherUser);
      assert.equal(others.allowed, false);
      assert.equal(others.scope, Scope.NONE);
      assert.match(others.reason, /only on the subject's own objects/);
    });

    it("let an OPERATOR read all attendance in its organisation", async () => {
      const res = await check(a.sessions.operator, a, "attendance", "read", a.user);
      assert.deepEqual([res.allowed, res.decidedByRole, res.scope], [true, "OPERATOR", Scope.ALL]);
      const scope = await a.sessions.operator.decisions.resolveScope({ subjectId: a.operator, organizationId: a.id, resource: "attendance", action: "read" });
      assert.equal(scope.scope, Scope.ALL);
      const userScope = await a.sessions.user.decisions.resolveScope({ subjectId: a.user, organizationId: a.id, resource: "attendance", action: "read" });
      assert.deepEqual([userScope.scope, userScope.decidedByRole], [Scope.OWN, "USER"]);
    });

    it("let an ADMIN manage roles, and nobody else", async () => {
      const created = await a.sessions.admin.admin.createRole({ name: "Cashier", color: "#00aa00" });
      assert.equal(created.role?.color, "#00AA00");
      for (const s of [a.sessions.operator, a.sessions.user, a.sessions.nobody]) {
        await rejectsWith(s.admin.createRole({ name: "Sneaky" }), status.PERMISSION_DENIED, /may not create roles.*no role of the subject grants roles.create|holds no role/);
      }
      const admin = await check(a.sessions.admin, a, "roles", "update");
      assert.equal(admin.allowed, true);
    });

    it("deny by default: no roles, or no grant, is no", async () => {
      const nobody = await check(a.sessions.nobody, a, "attendance", "read", a.nobody);
      assert.deepEqual([nobody.allowed, nobody.reason], [false, "the subject holds no role in this organisation"]);
      const noGrant = await check(a.sessions.user, a, "attendance", "delete", a.user);
      assert.deepEqual([noGrant.allowed, noGrant.reason, noGrant.scope], [false, "no role of the subject grants attendance.delete", Scope.NONE]);
    });

    it("list what a USER may do: exactly the default grants", async () => {
      const res = await a.sessions.user.decisions.listEffectivePermissions({ subjectId: a.user, organizationId: a.id });
      const got = res.permissions.map((p) => `${p.resource}.${p.action} ${Scope[p.scope]} ${p.role}`);
      const expected = DEFAULT_GRANTS.USER.map(([r, act, scope]) => `${r}.${act} ${scope} USER`).sort();
      assert.deepEqual(got, expected);
      assert.ok(res.revision > 0n);
    });
  });

  describe("tenants", () => {
    it("never reach each other: a token of B cannot ask in A, and B's people hold nothing in A", async () => {
      await rejectsWith(check(b.sessions.admin, a, "attendance", "read"), status.PERMISSION_DENIED, /cannot ask about organisation/);
      const asked = await platform.decisions.check({ subjectId: b.admin, organizationId: a.id, resource: "roles", action: "update" });
      assert.deepEqual([asked.allowed, asked.reason], [false, "the subject holds no role in this organisation"]);
      await rejectsWith(b.sessions.admin.admin.createRole({ organizationId: a.id, name: "Intruder" }), status.PERMISSION_DENIED);
    });

    it("hide each other's roles: an id from B is NOT_FOUND in A", async () => {
      const { roles } = await b.sessions.admin.admin.listRoles({});
      const bAdmin = roles.find((r) => r.name === "ADMIN")!;
      await rejectsWith(a.sessions.admin.admin.getRole({ roleId: bAdmin.id }), status.NOT_FOUND);
      await rejectsWith(a.sessions.admin.admin.assignRole({ userId: a.user, roleId: bAdmin.id }), status.NOT_FOUND);
      await rejectsWith(a.sessions.admin.admin.deleteRole({ roleId: bAdmin.id }), status.NOT_FOUND);
    });
  });

  describe("requests", () => {
    it("answer INVALID_ARGUMENT for an unknown resource or action, naming what exists", async () => {
      await rejectsWith(check(a.sessions.user, a, "attendence", "read"), status.INVALID_ARGUMENT, /^resource: unknown resource "attendence"; this organisation has .*attendance/);
      await rejectsWith(check(a.sessions.user, a, "attendance", "fly"), status.INVALID_ARGUMENT, /^action: "fly" is not an action of resource attendance \(it has create, delete, export, read, update\)/);
      await rejectsWith(check(a.sessions.user, a, "", "read"), status.INVALID_ARGUMENT, /^resource: is required/);
      await rejectsWith(check(a.sessions.user, a, "attendance", "read", "not-a-uuid"), status.INVALID_ARGUMENT, /^owner_id: must be a UUID/);
      await rejectsWith(a.sessions.user.decisions.check({ subjectId: "x", organizationId: a.id, resource: "users", action: "read" }), status.INVALID_ARGUMENT, /^subject_id/);
    });

    it("let a tenant ask about others only with roles:read", async () => {
      await rejectsWith(a.sessions.user.decisions.check({ subjectId: a.operator, organizationId: a.id, resource: "users", action: "read" }), status.PERMISSION_DENIED, /you may ask only about yourself/);
      const res = await a.sessions.admin.decisions.check({ subjectId: a.operator, organizationId: a.id, resource: "attendance", action: "export" });
      assert.deepEqual([res.allowed, res.decidedByRole], [true, "OPERATOR"]);
    });

    it("allow a platform caller everything when it asks about itself, except on unknown names", async () => {
      const res = await platform.decisions.check({ subjectId: "identity", organizationId: a.id, resource: "organizations", action: "create" });
      assert.deepEqual([res.allowed, res.decidedByRole, res.scope], [true, "", Scope.ALL]);
      await rejectsWith(platform.decisions.check({ subjectId: "identity", organizationId: a.id, resource: "nope", action: "read" }), status.INVALID_ARGUMENT);
    });
  });

  describe("BatchCheck", () => {
    it("answers up to 1,000 items in order, and refuses 0 or 1,001", async () => {
      const items = Array.from({ length: 1000 }, (_, i) => ({ resource: "attendance", action: i % 2 ? "read" : "delete", ownerId: i % 3 ? a.user : a.otherUser }));
      const res = await a.sessions.user.decisions.batchCheck({ subjectId: a.user, organizationId: a.id, items });
      assert.equal(res.results.length, 1000);
      res.results.forEach((r, i) => assert.equal(r.allowed, i % 2 === 1 && i % 3 !== 0, `item ${i}`));
      await rejectsWith(a.sessions.user.decisions.batchCheck({ subjectId: a.user, organizationId: a.id, items: [...items, items[0]!] }), status.INVALID_ARGUMENT, /^items: 1001 items is more than 1000/);
      await rejectsWith(a.sessions.user.decisions.batchCheck({ subjectId: a.user, organizationId: a.id, items: [] }), status.INVALID_ARGUMENT, /^items:/);
    });

    it("names the item at fault", async () => {
      const items = [{ resource: "users", action: "read" }, { resource: "users", action: "levitate" }];
      await rejectsWith(a.sessions.user.decisions.batchCheck({ subjectId: a.user, organizationId: a.id, items }), status.INVALID_ARGUMENT, /^items\[1\]\.action: "levitate"/);
    });
  });

  describe("a marketplace (shops, products, orders) with the seven rule flags", () => {
    const SEVEN = ["read", "read_all", "create", "update", "update_all", "delete", "delete_all"];
    // "user" and "admin" are taken by the system roles (names are case-insensitive), hence these.
    const FLAGS: Record<string, Record<string, string[]>> = {
      shopper: { shops: ["read_all"], products: ["read_all"], orders: ["read", "create", "update", "delete"] },
      manager: { shops: ["read_all", "update"], products: ["read_all", "create", "update_all", "delete_all"], orders: ["read_all", "update_all"] },
      marketplace_admin: { shops: SEVEN, products: SEVEN, orders: SEVEN },
    };
    const people: Record<string, string> = {};
    let market: string;

    /** The flags' meaning, independently of the engine. */
    const expected = (roles: string[], resource: string, action: string, owner: "none" | "self" | "other") =>
      roles.some((role) => {
        const flags = FLAGS[role]![resource] ?? [];
        if (action === "create") return flags.includes("create");
        return flags.includes(`${action}_all`) || (owner !== "other" && flags.includes(action));
      });

    before(async () => {
      market = randomUUID();
      const owner = randomUUID();
      await platform.admin.seedOrganization({ organizationId: market, adminUserId: owner });
      const admin = (await world.as({ kind: "user", subject: owner, organizationId: market })).admin;
      const permissions = new Map<string, string>();
      for (const name of ["shops", "products", "orders"]) {
        const { resource } = await admin.createResource({ name, hasOwner: true, description: `${name} of the marketplace` });
        for (const action of ["read", "create", "update", "delete"]) {
          const { permission } = await admin.createPermission({ resourceId: resource!.id, action });
          permissions.set(`${name}.${action}`, permission!.id);
        }
      }
      for (const [roleName, byResource] of Object.entries(FLAGS)) {
        const { role } = await admin.createRole({ name: roleName });
        for (const [resource, flags] of Object.entries(byResource)) {
          for (const flag of flags) {
            const [action, all] = flag.split("_");
            // read and read_all together are one grant of the wider scope.
            if (!all && flags.includes(`${action}_all`)) continue;
            const scope = all || action === "create" ? Scope.ALL : Scope.OWN;
            await admin.grantPermission({ roleId: role!.id, permissionId: permissions.get(`${resource}.${action}`)!, scope });
          }
        }
        people[roleName] = randomUUID();
        await admin.assignRole({ userId: people[roleName], roleName });
      }
      people.both = randomUUID();
      for (const roleName of ["shopper", "manager"]) await admin.assignRole({ userId: people.both, roleName });
    });

    for (const [person, roles] of [["shopper", ["shopper"]], ["manager", ["manager"]], ["marketplace_admin", ["marketplace_admin"]], ["both", ["shopper", "manager"]]] as const) {
      it(`decides every (resource, action, owner) for ${person} as the flags say`, async () => {
        const subject = people[person]!;
        const cases = ["shops", "products", "orders"].flatMap((resource) =>
          ["read", "create", "update", "delete"].flatMap((action) => (["none", "self", "other"] as const).map((owner) => ({ resource, action, owner }))),
        );
        const items = cases.map((c) => ({ resource: c.resource, action: c.action, ownerId: c.owner === "none" ? undefined : c.owner === "self" ? subject : randomUUID() }));
        const res = await platform.decisions.batchCheck({ subjectId: subject, organizationId: market, items });
        res.results.forEach((r, i) => {
          const c = cases[i]!;
          assert.equal(r.allowed, expected([...roles], c.resource, c.action, c.owner), `${person} ${c.action} ${c.resource} owner=${c.owner}: ${r.reason}`);
        });
      });
    }

    it("keeps the marketplace's resources to its own organisation", async () => {
      await rejectsWith(check(a.sessions.admin, a, "shops", "read"), status.INVALID_ARGUMENT, /unknown resource "shops"/);
    });
  });
});
