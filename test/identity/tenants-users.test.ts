import assert from "node:assert/strict";
import { status } from "@grpc/grpc-js";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { OrganizationService, OrganizationStatus } from "../../gen/rollcall/identity/v1/organization_pb.js";
import { UserService } from "../../gen/rollcall/identity/v1/user_pb.js";
import { AuthzAdminService } from "../../gen/rollcall/authz/v1/admin_pb.js";
import { Scope } from "../../gen/rollcall/authz/v1/authz_pb.js";
import { builtInId } from "../../services/authz/policy/catalogue.js";
import { AppError } from "../../services/runtime/errors.js";
import { startIdentityMesh, type IdentityMesh } from "./mesh-fixture.js";

const code = (c: status, pattern?: RegExp) => (err: unknown) => {
  assert.ok(err instanceof AppError, String(err));
  assert.equal(status[err.code], status[c], err.message);
  if (pattern) assert.match(err.message, pattern);
  return true;
};

/** Retries while PERMISSION_DENIED: a grant reaches other services' decision caches within a second. */
async function waitFor<T>(attempt: () => Promise<T>, timeoutMs = 5_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await attempt();
    } catch (err) {
      if (!(err instanceof AppError && err.code === status.PERMISSION_DENIED) || Date.now() > until) throw err;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

describe("identity: organisations and users", function () {
  this.timeout(60_000);
  let mesh: IdentityMesh;
  let admin: string;

  before(async () => {
    mesh = await startIdentityMesh();
    admin = await mesh.adminToken();
  });
  after(() => mesh?.stop());

  describe("organisation lifecycle", () => {
    let orgId: string;
    let memberToken: string;

    it("lets platform operators create an organisation: PENDING, roles seeded, creator its ADMIN", async () => {
      const { organization } = await mesh.client(OrganizationService, admin).createOrganization({ code: "acme", name: "Acme Ltd", timezone: "Europe/Berlin" });
      assert.equal(organization!.status, OrganizationStatus.PENDING);
      orgId = organization!.id;
      const roles = await mesh.client(AuthzAdminService, admin).listRoles({ organizationId: orgId });
      assert.deepEqual(roles.roles.map((r) => r.name).sort(), ["ADMIN", "OPERATOR", "USER"]);
    });

    it("refuses a duplicate code (any case), a bad code and a bad time zone, naming the field", async () => {
      const orgs = mesh.client(OrganizationService, admin);
      await assert.rejects(orgs.createOrganization({ code: "ACME", name: "Again" }), code(status.ALREADY_EXISTS));
      await assert.rejects(orgs.createOrganization({ code: "-bad code-", name: "x" }), code(status.INVALID_ARGUMENT, /^code:/));
      await assert.rejects(orgs.createOrganization({ code: "tz", name: "x", timezone: "Mars/Olympus" }), code(status.INVALID_ARGUMENT, /^timezone:/));
    });

    it("refuses illegal transitions with FAILED_PRECONDITION and says what is allowed", async () => {
      const orgs = mesh.client(OrganizationService, admin);
      await assert.rejects(orgs.suspendOrganization({ organizationId: orgId, reason: "x" }), code(status.FAILED_PRECONDITION, /acme is PENDING; only ACTIVE organisations can be suspended/));
      await assert.rejects(orgs.resumeOrganization({ organizationId: orgId }), code(status.FAILED_PRECONDITION));
    });

    it("verifies, then suspends: members cannot log in and their tokens stop working", async () => {
      const orgs = mesh.client(OrganizationService, admin);
      assert.equal((await orgs.verifyOrganization({ organizationId: orgId })).organization!.status, OrganizationStatus.ACTIVE);
      await mesh.client(UserService, admin).createUser({ organizationId: orgId, username: "wile", email: "wile@acme.test", password: "Roadrunner-chaser-9" });
      memberToken = (await mesh.login("wile", "Roadrunner-chaser-9", "acme")).tokens!.accessToken;
      await mesh.client(UserService, memberToken).getUser({});

      await assert.rejects(orgs.suspendOrganization({ organizationId: orgId }), code(status.INVALID_ARGUMENT, /reason/));
      const suspended = await orgs.suspendOrganization({ organizationId: orgId, reason: "unpaid invoice" });
      assert.equal(suspended.organization!.status, OrganizationStatus.SUSPENDED);
      assert.equal(suspended.organization!.statusReason, "unpaid invoice");
      await assert.rejects(mesh.client(UserService, memberToken).getUser({}), code(status.UNAUTHENTICATED, /suspended/));
      await assert.rejects(mesh.login("wile", "Roadrunner-chaser-9", "acme"), code(status.PERMISSION_DENIED, /suspended: unpaid invoice/));
    });

    it("resumes, and members work again", async () => {
      await mesh.client(OrganizationService, admin).resumeOrganization({ organizationId: orgId });
      await mesh.client(UserService, memberToken).getUser({});
    });

    it("keeps tenants apart: a member neither sees nor acts in another organisation", async () => {
      const own = mesh.client(OrganizationService, memberToken);
      await assert.rejects(own.listOrganizations({}), code(status.PERMISSION_DENIED));
      await assert.rejects(own.getOrganization({ code: "default" }), code(status.NOT_FOUND));
      await assert.rejects(mesh.client(UserService, memberToken).listUsers({ organizationId: (await mesh.client(OrganizationService, admin).getOrganization({ code: "default" })).organization!.id }), code(status.PERMISSION_DENIED));
    });

    it("schedules deletion (PENDING_DEACTIVATION) and blocks the tenant", async () => {
      const org = await mesh.client(OrganizationService, admin).requestOrganizationDeletion({ organizationId: orgId, reason: "closing" });
      assert.equal(org.organization!.status, OrganizationStatus.PENDING_DEACTIVATION);
      assert.ok(org.organization!.deactivationRequestedAt);
      await assert.rejects(mesh.client(UserService, memberToken).getUser({}), code(status.UNAUTHENTICATED));
    });
  });

  describe("users", () => {
    const users = () => mesh.client(UserService, admin);

    it("validates every field with INVALID_ARGUMENT naming it, and stores nothing", async () => {
      const base = { username: "valid.user", email: "valid@example.com", password: "Perfectly-fine-pass-1" };
      await assert.rejects(users().createUser({ ...base, email: "not-an-email" }), code(status.INVALID_ARGUMENT, /^email:/));
      await assert.rejects(users().createUser({ ...base, phoneNumber: "0123 456" }), code(status.INVALID_ARGUMENT, /^phone_number: must be in E\.164/));
      await assert.rejects(users().createUser({ ...base, username: "a" }), code(status.INVALID_ARGUMENT, /^username:/));
      await assert.rejects(users().createUser({ ...base, birthDate: "2100-01-01" }), code(status.INVALID_ARGUMENT, /^birth_date:/));
      await assert.rejects(users().createUser({ ...base, firstName: "x".repeat(101) }), code(status.INVALID_ARGUMENT, /^first_name: must be at most 100/));
      await assert.rejects(users().createUser({ ...base, password: "valid.user-is-me!" }), code(status.INVALID_ARGUMENT, /^password:/));
      const listed = await users().listUsers({ query: "valid" });
      assert.equal(listed.users.length, 0);
    });

    it("keeps email (case-insensitive) and username unique within the organisation", async () => {
      await users().createUser({ username: "alan", email: "alan@example.com", phoneNumber: "+441234567890", firstName: "Alan", lastName: "Turing", department: "Codebreaking", employeeCode: "BP-1" });
      await assert.rejects(users().createUser({ username: "alan2", email: "ALAN@example.com" }), code(status.ALREADY_EXISTS, /email alan@example\.com/i));
      await assert.rejects(users().createUser({ username: "Alan", email: "other@example.com" }), code(status.ALREADY_EXISTS, /username/));
    });

    it("lists with text, department and role filters and stable cursor pages", async () => {
      for (let i = 0; i < 5; i++) await users().createUser({ username: `page${i}`, email: `page${i}@example.com`, department: "Paging" });
      const seen: string[] = [];
      let pageToken = "";
      do {
        const res = await users().listUsers({ department: "Paging", page: { pageSize: 2, pageToken } });
        assert.ok(res.users.length <= 2);
        seen.push(...res.users.map((u) => u.username));
        pageToken = res.page!.nextPageToken;
      } while (pageToken);
      assert.deepEqual(seen, ["page0", "page1", "page2", "page3", "page4"]);
      assert.deepEqual((await users().listUsers({ query: "turing" })).users.map((u) => u.username), ["alan"]);
      const admins = await users().listUsers({ role: "ADMIN" });
      assert.deepEqual(admins.users.map((u) => u.username), ["admin"]);
      await assert.rejects(users().listUsers({ page: { pageSize: 1, pageToken: "garbage" } }), code(status.INVALID_ARGUMENT, /page_token/));
    });

    it("gives each user a stable numeric face label", async () => {
      const a = (await users().listUsers({ query: "page0" })).users[0]!;
      const b = (await users().listUsers({ query: "page1" })).users[0]!;
      assert.ok(a.profile!.faceLabel > 0n && b.profile!.faceLabel > 0n && a.profile!.faceLabel !== b.profile!.faceLabel);
    });

    it("updates the fields named in the mask, and only those", async () => {
      const alan = (await users().listUsers({ query: "alan" })).users[0]!;
      const updated = await users().updateUser({ userId: alan.id, user: { firstName: "Alan M.", lastName: "ignored", profile: { department: "Computing" } }, updateMask: { paths: ["first_name", "profile.department"] } });
      assert.equal(updated.user!.firstName, "Alan M.");
      assert.equal(updated.user!.lastName, "Turing");
      assert.equal(updated.user!.profile!.department, "Computing");
      assert.equal(updated.user!.fullName, "Turing Alan M.");
      await assert.rejects(users().updateUser({ userId: alan.id, user: {}, updateMask: { paths: ["password_hash"] } }), code(status.INVALID_ARGUMENT, /cannot change password_hash/));
      await assert.rejects(users().updateUser({ userId: alan.id, user: { email: "bad" }, updateMask: { paths: ["email"] } }), code(status.INVALID_ARGUMENT, /^user\.email:/));
    });

    it("lets only holders of roles:assign choose a new user's roles", async () => {
      const authz = mesh.client(AuthzAdminService, admin);
      const { role } = await authz.createRole({ name: "RECRUITER", description: "creates users" });
      await authz.grantPermission({ roleId: role!.id, permissionId: builtInId("permission", "users.create"), scope: Scope.ALL });
      await users().createUser({ username: "recruiter", email: "recruiter@example.com", password: "Hires-people-daily-1", roles: ["RECRUITER"] });
      const asRecruiter = mesh.client(UserService, (await mesh.login("recruiter", "Hires-people-daily-1")).tokens!.accessToken);
      await asRecruiter.createUser({ username: "recruit1", email: "recruit1@example.com" });
      await assert.rejects(asRecruiter.createUser({ username: "recruit2", email: "recruit2@example.com", roles: ["ADMIN"] }), code(status.PERMISSION_DENIED, /assign roles/));
      const { revision } = await authz.grantPermission({ roleId: role!.id, permissionId: builtInId("permission", "roles.assign"), scope: Scope.ALL });
      assert.ok(revision > 0n);
      const recruit = await waitFor(() => asRecruiter.createUser({ username: "recruit2", email: "recruit2@example.com", roles: ["OPERATOR"] }));
      assert.deepEqual(recruit.user!.roles, ["OPERATOR"]);
    });

    it("lets a USER read and edit themselves but not others", async () => {
      await users().createUser({ username: "plain", email: "plain@example.com", password: "Just-a-user-pass-7" });
      const token = (await mesh.login("plain", "Just-a-user-pass-7")).tokens!.accessToken;
      const self = mesh.client(UserService, token);
      const me = (await self.getUser({})).user!;
      assert.deepEqual(me.roles, ["USER"]);
      await self.updateUser({ userId: me.id, user: { firstName: "Plain" }, updateMask: { paths: ["first_name"] } });
      const alan = (await users().listUsers({ query: "alan" })).users[0]!;
      await assert.rejects(self.getUser({ userId: alan.id }), code(status.PERMISSION_DENIED));
      await assert.rejects(self.updateUser({ userId: alan.id, user: { firstName: "x" }, updateMask: { paths: ["first_name"] } }), code(status.PERMISSION_DENIED));
      assert.deepEqual((await self.listUsers({})).users.map((u) => u.id), [me.id], "OWN scope lists only oneself");
    });

    it("bans until a time: login refused with the date, sessions ended", async () => {
      const u = (await users().createUser({ username: "banned", email: "banned@example.com", password: "Naughty-spammer-pass-1" })).user!;
      const token = (await mesh.login("banned", "Naughty-spammer-pass-1")).tokens!.accessToken;
      const until = new Date(Date.now() + 3_600_000);
      const res = await users().banUser({ userId: u.id, until: timestampFromDate(until), reason: "spam" });
      assert.ok(res.user!.banUntil);
      await assert.rejects(mesh.client(UserService, token).getUser({}), code(status.UNAUTHENTICATED));
      await assert.rejects(mesh.login("banned", "Naughty-spammer-pass-1"), code(status.PERMISSION_DENIED, /banned until/));
      await assert.rejects(users().banUser({ userId: u.id, until: timestampFromDate(new Date(Date.now() - 1000)) }), code(status.INVALID_ARGUMENT, /future/));
      await assert.rejects(users().banUser({ userId: u.id, until: timestampFromDate(until) }), code(status.INVALID_ARGUMENT, /reason/));

      const lifted = await users().banUser({ userId: u.id });
      assert.equal(lifted.user!.banUntil, undefined, "an unset until lifts the ban");
      assert.ok((await mesh.login("banned", "Naughty-spammer-pass-1")).tokens!.accessToken);
    });

    it("soft-deletes and restores, keeping the row and refusing a restore that would clash", async () => {
      const u = (await users().createUser({ username: "temp", email: "temp@example.com", password: "Short-lived-pass-123" })).user!;
      const deleted = await users().deleteUser({ userId: u.id, reason: "left" });
      assert.ok(deleted.user!.deletedAt);
      await assert.rejects(mesh.login("temp", "Short-lived-pass-123"), code(status.UNAUTHENTICATED));
      await assert.rejects(users().deleteUser({ userId: u.id }), code(status.FAILED_PRECONDITION));
      assert.equal((await users().listUsers({ query: "temp", includeDeleted: true })).users.length, 1);
      const clash = (await users().createUser({ username: "temp", email: "temp2@example.com" })).user!;
      await assert.rejects(users().restoreUser({ userId: u.id }), code(status.ALREADY_EXISTS, /username temp/));
      await users().deleteUser({ userId: clash.id });
      const restored = await users().restoreUser({ userId: u.id });
      assert.equal(restored.user!.deletedAt, undefined);
      await mesh.login("temp", "Short-lived-pass-123");
    });
  });
});
