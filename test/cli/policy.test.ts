import assert from "node:assert/strict";
import { readFile, stat } from "node:fs/promises";
import path from "node:path";
import { ADMIN_EMAIL, ADMIN_PASSWORD, startIdentityMesh, type IdentityMesh } from "../identity/mesh-fixture.js";
import { DeviceService } from "../../gen/rollcall/identity/v1/device_pb.js";
import { CliRunner } from "./support.js";

interface JsonDevice { id: string; name: string; direction: string; isActive: boolean }

describe("rollcall CLI: role, grant, check, device", function () {
  this.timeout(120_000);
  let mesh: IdentityMesh;
  let cli: CliRunner;

  before(async () => {
    mesh = await startIdentityMesh();
    cli = await CliRunner.create(mesh.target);
    await cli.login(ADMIN_EMAIL, ADMIN_PASSWORD);
    await cli.ok(["user", "add", "hana", "-e", "hana@example.com", "--first-name", "Hana", "--last-name", "H"]);
  });
  after(async () => {
    await cli?.dispose();
    await mesh?.stop();
  });

  describe("role and grant", () => {
    it("creates a role, grants and revokes a permission, assigns it to a user and deletes it", async () => {
      const created = await cli.json<{ role: { id: string; name: string } }>(["role", "create", "AUDITOR", "-d", "reads the audit log"]);
      assert.equal(created.role.name, "AUDITOR");
      assert.match((await cli.ok(["role", "list"])).stdout, /AUDITOR\s+no\s+reads the audit log/);
      const granted = await cli.json<{ grant: { resource: string; action: string; scope: string } }>(["role", "grant", "auditor", "audit_logs.read"]);
      assert.deepEqual([granted.grant.resource, granted.grant.action, granted.grant.scope], ["audit_logs", "read", "SCOPE_ALL"]);
      assert.match((await cli.ok(["role", "show", "AUDITOR"])).stdout, /audit_logs\.read\s+ALL/);

      await cli.ok(["grant", "assign", "hana", "AUDITOR"]);
      const roles = await cli.json<{ userRoles: { role: string }[] }>(["grant", "list", "hana"]);
      assert.deepEqual(roles.userRoles.map((r) => r.role).sort(), ["AUDITOR", "USER"]);

      const allowed = await cli.run(["check", "hana", "audit_logs", "read"]);
      assert.equal(allowed.code, 0, allowed.stderr);
      assert.match(allowed.stdout, /ALLOWED: hana may audit_logs\.read/);
      assert.match(allowed.stdout, /granted by role AUDITOR with scope ALL/);

      await cli.ok(["role", "revoke", "AUDITOR", "audit_logs.read"]);
      await cli.ok(["grant", "unassign", "hana", "AUDITOR"]);
      await cli.ok(["role", "delete", "AUDITOR"]);
      const gone = await cli.run(["role", "show", "AUDITOR"]);
      assert.equal(gone.code, 2);
    });

    it("explains a denial with the roles that would allow it (exit 3) and reports JSON", async () => {
      const denied = await cli.run(["check", "hana", "users", "delete"]);
      assert.equal(denied.code, 3, denied.stderr);
      assert.match(denied.stdout, /DENIED: hana may not users\.delete/);
      assert.match(denied.stdout, /roles of hana: USER/);
      assert.match(denied.stdout, /roles that grant users\.delete: .*ADMIN/);
      const json = JSON.parse((await cli.run(["--json", "check", "hana", "users", "read", "--owner"])).stdout);
      assert.equal(json.allowed, true);
      assert.equal(json.scope, "OWN");
      assert.equal(json.decidedByRole, "USER");
      assert.ok(json.ownerId);
    });

    it("refuses the system roles' deletion and unknown names with the right exit codes", async () => {
      const system = await cli.run(["role", "delete", "ADMIN"]);
      assert.equal(system.code, 6, system.stderr);
      const unknownPermission = await cli.run(["role", "grant", "USER", "nothing.here"]);
      assert.equal(unknownPermission.code, 2);
      assert.match(unknownPermission.stderr, /permission "nothing\.here"/);
      const unknownUser = await cli.run(["grant", "assign", "nobody", "USER"]);
      assert.equal(unknownUser.code, 2);
      const badScope = await cli.run(["role", "grant", "USER", "users.read", "--scope", "some"]);
      assert.equal(badScope.code, 1);
    });
  });

  describe("device", () => {
    it("registers a camera, prints the secret once and saves working credentials", async () => {
      const file = path.join(cli.dir, "door.json");
      const added = await cli.ok(["device", "add", "front-door", "--direction", "in", "--location", "Main gate", "--save", file]);
      const secret = /secret \(shown only now\): (\S+)/.exec(added.stdout)?.[1];
      assert.ok(secret);
      assert.equal((await stat(file)).mode & 0o777, 0o600);
      const credentials = JSON.parse(await readFile(file, "utf8"));
      assert.equal(credentials.secret, secret);
      assert.equal(credentials.addr, mesh.target);
      const token = await mesh.client(DeviceService).issueDeviceToken({ deviceId: credentials.deviceId, secret });
      assert.ok(token.accessToken);

      const listed = await cli.json<{ devices: JsonDevice[] }>(["device", "list"]);
      assert.deepEqual(listed.devices.map((d) => [d.name, d.direction, d.isActive]), [["front-door", "DEVICE_DIRECTION_IN", true]]);
      assert.doesNotMatch((await cli.ok(["device", "list"])).stdout, new RegExp(secret));

      const rotated = await cli.json<{ secret: string }>(["device", "rotate-secret", "front-door"]);
      assert.notEqual(rotated.secret, secret);
      await assert.rejects(mesh.client(DeviceService).issueDeviceToken({ deviceId: credentials.deviceId, secret }));
      const disabled = await cli.json<JsonDevice>(["device", "disable", "front-door", "--reason", "removed"]);
      assert.equal(disabled.isActive, false);
    });

    it("rejects a duplicate name (exit 6) and an unknown device (exit 2)", async () => {
      await cli.ok(["device", "add", "back-door", "--direction", "out"]);
      assert.equal((await cli.run(["device", "add", "back-door", "--direction", "out"])).code, 6);
      assert.equal((await cli.run(["device", "disable", "side-door"])).code, 2);
      assert.equal((await cli.run(["device", "add", "x", "--direction", "sideways"])).code, 1);
    });
  });
});
