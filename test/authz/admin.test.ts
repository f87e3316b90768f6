import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { status } from "@grpc/grpc-js";
import { Scope } from "../../gen/rollcall/authz/v1/authz_pb.js";
import { builtInId } from "../../services/authz/policy/catalogue.js";
import { AuthzWorld, type Session } from "./support/harness.js";
import { rejectsWith, seededOrganization, type SeededOrganization } from "./support/organizations.js";

describe("authz administration", function () {
  this.timeout(60_000);
  let world: AuthzWorld;
  let platform: Session;
  let org: SeededOrganization;
  let admin: Session["admin"];

  before(async () => {
    world = await AuthzWorld.open();
    platform = await world.service();
    org = await seededOrganization(world, platform);
    admin = org.sessions.admin.admin;
  });
  after(async () => world?.close());

  const roleId = async (name: string) => (await admin.listRoles({ page: { pageSize: 500, pageToken: "" } })).roles.find((r) => r.name === name)!.id;
  const check = (subjectId: string, resource: string, action: string, ownerId?: string) =>
    platform.decisions.check({ subjectId, organizationId: org.id, resource, action, ownerId });

  it("refuses every policy change and listing to a USER, naming the permission missing", async () => {
    const user = org.sessions.user.admin;
    const someRole = await roleId("OPERATOR");
    const somePermission = builtInId("permission", "users.read");
    const calls: [string, () => Promise<unknown>][] = [
      ["CreateRole", () => user.createRole({ name: "X" })],
      ["GetRole", () => user.getRole({ roleId: someRole })],
      ["ListRoles", () => user.listRoles({})],
      ["UpdateRole", () => user.updateRole({ roleId: someRole, description: "x" })],
      ["DeleteRole", () => user.deleteRole({ roleId: someRole })],
      ["CreateResource", () => user.createResource({ name: "things" })],
      ["ListResources", () => user.listResources({})],
      ["UpdateResource", () => user.updateResource({ resourceId: randomUUID(), isActive: false })],
      ["DeleteResource", () => user.deleteResource({ resourceId: randomUUID() })],
      ["CreatePermission", () => user.createPermission({ resourceId: builtInId("resource", "users"), action: "ban" })],
      ["ListPermissions", () => user.listPermissions({})],
      ["DeletePermission", () => user.deletePermission({ permissionId: somePermission })],
      ["GrantPermission", () => user.grantPermission({ roleId: someRole, permissionId: somePermission, scope: Scope.ALL })],
      ["RevokeGrant", () => user.revokeGrant({ roleId: someRole, permissionId: somePermission })],
      ["ListGrants", () => user.listGrants({ roleId: someRole })],
      ["AssignRole", () => user.assignRole({ userId: org.user, roleName: "ADMIN" })],
      ["UnassignRole", () => user.unassignRole({ userId: org.admin, roleName: "ADMIN" })],
      ["ListUserRoles", () => user.listUserRoles({ userId: org.admin })],
      ["ListRoleMembers", () => user.listRoleMembers({ roleId: someRole })],
      ["SeedOrganization", () => user.seedOrganization({ organizationId: org.id })],
    ];
    for (const [name, call] of calls) {
      const err = await rejectsWith(call(), status.PERMISSION_DENIED);
      assert.match(err.message, /^you may not (read|create|update|delete|assign) roles in this organisation: no role of the subject grants roles\.\w+$/, name);
    }
  });

  it("lets anyone list their own roles and read their organisation's revision", async () => {
    const { userRoles } = await org.sessions.user.admin.listUserRoles({ userId: org.user });
    assert.deepEqual(userRoles.map((r) => [r.role, r.assignedBy]), [["USER", ""]]);
    assert.ok((await org.sessions.user.admin.getRevision({ organizationId: org.id })).revision > 0n);
    await rejectsWith(org.sessions.user.admin.getRevision({ organizationId: randomUUID() }), status.PERMISSION_DENIED);
  });

  describe("roles", () => {
    it("validates names and colours, and keeps names unique regardless of case", async () => {
      await rejectsWith(admin.createRole({ name: "" }), status.INVALID_ARGUMENT, /^name: is required/);
      await rejectsWith(admin.createRole({ name: "x".repeat(65) }), status.INVALID_ARGUMENT, /^name: must be at most 64/);
      await rejectsWith(admin.createRole({ name: "operator" }), status.INVALID_ARGUMENT, /^name: OPERATOR is a system role name/);
      await rejectsWith(admin.createRole({ name: "Teal", color: "teal" }), status.INVALID_ARGUMENT, /^color: must be a colour "#RRGGBB"/);
      await admin.createRole({ name: "Auditor" });
      await rejectsWith(admin.createRole({ name: "AUDITOR" }), status.ALREADY_EXISTS, /a role named AUDITOR in this organisation already exists/);
    });

    it("keeps system roles: no renaming, no deleting; description and colour may change", async () => {
      const id = await roleId("USER");
      await rejectsWith(admin.updateRole({ roleId: id, name: "Member" }), status.FAILED_PRECONDITION, /USER is a system role and keeps its name/);
      await rejectsWith(admin.deleteRole({ roleId: id }), status.FAILED_PRECONDITION, /USER is a system role and cannot be deleted/);
      const { role } = await admin.updateRole({ roleId: id, description: "Everyone", color: "#123abc" });
      assert.deepEqual([role?.name, role?.description, role?.color, role?.isSystemRole], ["USER", "Everyone", "#123ABC", true]);
    });

    it("renames and deletes custom roles; deleting takes their grants and holders' permissions", async () => {
      const { role } = await admin.createRole({ name: "Exporter" });
      await rejectsWith(admin.updateRole({ roleId: role!.id, name: "auditor" }), status.ALREADY_EXISTS);
      const renamed = await admin.updateRole({ roleId: role!.id, name: "Exporters" });
      assert.equal(renamed.role?.name, "Exporters");
      await admin.grantPermission({ roleId: role!.id, permissionId: builtInId("permission", "attendance.export"), scope: Scope.ALL });
      const holder = randomUUID();
      await admin.assignRole({ userId: holder, roleId: role!.id });
      assert.equal((await check(holder, "attendance", "export")).decidedByRole, "Exporters");
      const { revision } = await admin.deleteRole({ roleId: role!.id });
      const after = await platform.decisions.check({ subjectId: holder, organizationId: org.id, resource: "attendance", action: "export", atLeastRevision: revision });
      assert.equal(after.allowed, false);
      await rejectsWith(admin.getRole({ roleId: role!.id }), status.NOT_FOUND, /^role .* was not found$/);
    });

    it("re-grants with a new scope, and counts a re-grant with the same scope as no change", async () => {
      const { role } = await admin.createRole({ name: "Viewer" });
      const permissionId = builtInId("permission", "attendance.read");
      const first = await admin.grantPermission({ roleId: role!.id, permissionId, scope: Scope.OWN });
      const same = await admin.grantPermission({ roleId: role!.id, permissionId, scope: Scope.OWN });
      assert.equal(same.revision, first.revision);
      const wider = await admin.grantPermission({ roleId: role!.id, permissionId, scope: Scope.ALL });
      assert.equal(wider.revision, first.revision + 1n);
      assert.deepEqual([wider.grant?.role, wider.grant?.resource, wider.grant?.action, wider.grant?.scope], ["Viewer", "attendance", "read", Scope.ALL]);
      await rejectsWith(admin.grantPermission({ roleId: role!.id, permissionId, scope: Scope.NONE }), status.INVALID_ARGUMENT, /^scope: must be SCOPE_OWN or SCOPE_ALL/);
      await rejectsWith(admin.grantPermission({ roleId: role!.id, permissionId: builtInId("permission", "devices.read"), scope: Scope.OWN }), status.FAILED_PRECONDITION, /resource devices has no owner/);
      await rejectsWith(admin.grantPermission({ roleId: role!.id, permissionId: randomUUID(), scope: Scope.ALL }), status.NOT_FOUND, /^permission /);
    });

    it("pages roles: system roles first, then by name", async () => {
      for (const name of ["b-role", "a-role", "C-role"]) await admin.createRole({ name });
      const names: string[] = [];
      let pageToken = "";
      do {
        const res = await admin.listRoles({ page: { pageSize: 2, pageToken } });
        assert.ok(res.roles.length <= 2);
        names.push(...res.roles.map((r) => r.name));
        pageToken = res.page?.nextPageToken ?? "";
      } while (pageToken);
      assert.deepEqual(names.slice(0, 3), ["ADMIN", "OPERATOR", "USER"]);
      // Pages join up to the one-page listing: nothing skipped or repeated (name order is the database's collation).
      const onePage = (await admin.listRoles({ page: { pageSize: 500, pageToken: "" } })).roles.map((r) => r.name);
      assert.deepEqual(names, onePage);
      assert.ok(["a-role", "b-role", "C-role"].every((n) => names.includes(n)));
      assert.ok(names.indexOf("a-role") < names.indexOf("b-role") && names.indexOf("b-role") < names.indexOf("C-role"));
      await rejectsWith(admin.listRoles({ page: { pageSize: 501, pageToken: "" } }), status.INVALID_ARGUMENT, /^page\.page_size/);
      await rejectsWith(admin.listRoles({ page: { pageSize: 2, pageToken: "garbage" } }), status.INVALID_ARGUMENT, /^page\.page_token/);
    });
  });

  describe("assignments", () => {
    it("assign by id or name (exactly one), record who assigned, and page the members", async () => {
      const { role } = await admin.createRole({ name: "Crew" });
      await rejectsWith(admin.assignRole({ userId: org.user, roleId: role!.id, roleName: "Crew" }), status.INVALID_ARGUMENT, /give exactly one of role_id and role_name/);
      await rejectsWith(admin.assignRole({ userId: org.user, roleName: "Nonexistent" }), status.NOT_FOUND, /role Nonexistent was not found/);
      const members = Array.from({ length: 5 }, () => randomUUID());
      for (const userId of members) {
        const { userRole } = await admin.assignRole({ userId, roleName: "crew" });
        assert.deepEqual([userRole?.role, userRole?.assignedBy], ["Crew", org.admin]);
      }
      const seen: string[] = [];
      let pageToken = "";
      do {
        const res = await admin.listRoleMembers({ roleId: role!.id, page: { pageSize: 2, pageToken } });
        seen.push(...res.userRoles.map((m) => m.userId));
        pageToken = res.page?.nextPageToken ?? "";
      } while (pageToken);
      assert.deepEqual(seen, members);
    });

    it("let a platform operator (staff) administer any organisation", async () => {
      const staff = await world.as({ kind: "user", subject: randomUUID(), organizationId: randomUUID(), staff: true });
      const { userRole } = await staff.admin.assignRole({ organizationId: org.id, userId: org.otherUser, roleName: "OPERATOR" });
      assert.equal(userRole?.assignedBy, staff.who.subject);
      assert.ok((await staff.admin.listRoles({ organizationId: org.id })).roles.some((r) => r.name === "OPERATOR"));
      await rejectsWith(platform.admin.listRoles({}), status.INVALID_ARGUMENT, /^organization_id: is required: this caller has no organisation of its own/);
      await rejectsWith(org.sessions.admin.admin.listRoles({ organizationId: randomUUID() }), status.PERMISSION_DENIED, /only platform operators may act in organisation/);
      await staff.admin.unassignRole({ organizationId: org.id, userId: org.otherUser, roleName: "OPERATOR" });
    });
  });

  describe("resources and permissions", () => {
    it("adds a resource with its actions, unique beside the built-ins, and refuses to change built-ins", async () => {
      await rejectsWith(admin.createResource({ name: "Shops" }), status.INVALID_ARGUMENT, /^name: must be 1–64 characters of a–z, 0–9 and _ \(got "Shops"\)/);
      await rejectsWith(admin.createResource({ name: "users" }), status.ALREADY_EXISTS, /a built-in resource named users/);
      const { resource } = await admin.createResource({ name: "lockers", hasOwner: true });
      assert.deepEqual([resource?.builtIn, resource?.isActive, resource?.organizationId], [false, true, org.id]);
      await rejectsWith(admin.createResource({ name: "lockers" }), status.ALREADY_EXISTS);
      const { permission } = await admin.createPermission({ resourceId: resource!.id, action: "open" });
      assert.equal(permission?.name, "lockers.open");
      await rejectsWith(admin.createPermission({ resourceId: resource!.id, action: "open", name: "other" }), status.ALREADY_EXISTS, /permission lockers\.open/);
      const users = builtInId("resource", "users");
      await rejectsWith(admin.updateResource({ resourceId: users, isActive: false }), status.FAILED_PRECONDITION, /resource users is built in and read-only/);
      await rejectsWith(admin.deleteResource({ resourceId: users }), status.FAILED_PRECONDITION);
      await rejectsWith(admin.deletePermission({ permissionId: builtInId("permission", "users.read") }), status.FAILED_PRECONDITION, /built in/);
      await rejectsWith(platform.admin.updateResource({ resourceId: users, isActive: false }), status.FAILED_PRECONDITION, /built in and read-only/);
    });

    it("adds custom verbs to built-in resources, and makes a deleted one unknown again", async () => {
      const { permission, revision } = await admin.createPermission({ resourceId: builtInId("resource", "attendance"), action: "approve" });
      const res = await platform.decisions.check({ subjectId: org.admin, organizationId: org.id, resource: "attendance", action: "approve", atLeastRevision: revision });
      assert.equal(res.allowed, false); // new verbs are granted to nobody, ADMIN included
      const { revision: gone } = await admin.deletePermission({ permissionId: permission!.id });
      await rejectsWith(platform.decisions.check({ subjectId: org.admin, organizationId: org.id, resource: "attendance", action: "approve", atLeastRevision: gone }), status.INVALID_ARGUMENT);
    });

    it("denies everything on an inactive resource, and keeps has_owner while OWN grants need it", async () => {
      const { resource } = await admin.createResource({ name: "badges", hasOwner: true });
      const { permission } = await admin.createPermission({ resourceId: resource!.id, action: "read" });
      const { role } = await admin.createRole({ name: "Badge holder" });
      await admin.grantPermission({ roleId: role!.id, permissionId: permission!.id, scope: Scope.OWN });
      await admin.assignRole({ userId: org.user, roleId: role!.id });
      assert.equal((await check(org.user, "badges", "read", org.user)).allowed, true);

      await rejectsWith(admin.updateResource({ resourceId: resource!.id, hasOwner: false }), status.FAILED_PRECONDITION, /1 grant\(s\) of badges have OWN scope/);
      const { revision } = await admin.updateResource({ resourceId: resource!.id, isActive: false });
      const denied = await platform.decisions.check({ subjectId: org.user, organizationId: org.id, resource: "badges", action: "read", atLeastRevision: revision });
      assert.deepEqual([denied.allowed, denied.reason], [false, "resource badges is inactive"]);
      const active = (await admin.listResources({})).resources.map((r) => r.name);
      const all = (await admin.listResources({ includeInactive: true })).resources.map((r) => r.name);
      assert.ok(!active.includes("badges") && all.includes("badges"));
      assert.deepEqual(all.slice(0, 9), ["attendance", "audit_logs", "configs", "devices", "events", "faces", "organizations", "roles", "users"]);

      const { revision: deleted } = await admin.deleteResource({ resourceId: resource!.id });
      assert.equal((await admin.listGrants({ roleId: role!.id })).grants.length, 0);
      await rejectsWith(platform.decisions.check({ subjectId: org.user, organizationId: org.id, resource: "badges", action: "read", atLeastRevision: deleted }), status.INVALID_ARGUMENT);
    });

    it("lists permissions by resource then action, built-ins included", async () => {
      const { permissions } = await admin.listPermissions({ resourceId: builtInId("resource", "roles") });
      assert.deepEqual(permissions.map((p) => p.action), ["assign", "create", "delete", "read", "update"]);
      assert.ok(permissions.every((p) => p.organizationId === "" && p.resource === "roles"));
    });
  });

  describe("seeding", () => {
    it("re-seeds for an administrator without undoing their changes to system roles", async () => {
      const userRole = await roleId("USER");
      const permissionId = builtInId("permission", "audit_logs.read");
      await admin.revokeGrant({ roleId: userRole, permissionId });
      const res = await admin.seedOrganization({ organizationId: org.id });
      assert.equal(res.created, false);
      assert.ok(!(await admin.listGrants({ roleId: userRole })).grants.some((g) => g.permissionId === permissionId));
      await rejectsWith(admin.seedOrganization({ organizationId: randomUUID() }), status.PERMISSION_DENIED);
      await rejectsWith(platform.admin.seedOrganization({ organizationId: "nope" }), status.INVALID_ARGUMENT, /^organization_id: must be a UUID/);
    });
  });
});
