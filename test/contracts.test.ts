// Contract tests for the protobuf API: buf lint is clean, the committed gen/ is exactly what
// `buf generate` produces (so a stale gen/ fails CI), and the generated service descriptors
// expose the expected RPCs.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

import { AttendanceService } from "../gen/rollcall/attendance/v1/attendance_pb.js";
import { AuditService } from "../gen/rollcall/audit/v1/audit_pb.js";
import { AuthzAdminService } from "../gen/rollcall/authz/v1/admin_pb.js";
import { AuthzService } from "../gen/rollcall/authz/v1/authz_pb.js";
import { AuthService } from "../gen/rollcall/identity/v1/auth_pb.js";
import { ConfigService } from "../gen/rollcall/identity/v1/config_pb.js";
import { DeviceService } from "../gen/rollcall/identity/v1/device_pb.js";
import { OAuthService } from "../gen/rollcall/identity/v1/oauth_pb.js";
import { OrganizationService } from "../gen/rollcall/identity/v1/organization_pb.js";
import { UserService } from "../gen/rollcall/identity/v1/user_pb.js";
import { VisionService } from "../gen/rollcall/vision/v1/vision_pb.js";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const buf = join(root, "node_modules", ".bin", process.platform === "win32" ? "buf.cmd" : "buf");
// buf.gen.yaml runs the plugin as `node …`; make sure the running node is found first on PATH.
const env = {
  ...process.env,
  PATH: [dirname(process.execPath), join(root, "node_modules", ".bin"), process.env.PATH ?? ""].join(delimiter),
};

function runBuf(args: string[]): string {
  try {
    return execFileSync(buf, args, { cwd: root, env, encoding: "utf8", stdio: "pipe", timeout: 25_000 });
  } catch (err) {
    const e = err as { status?: number; stdout?: string; stderr?: string };
    assert.fail(`buf ${args.join(" ")} exited ${e.status}:\n${e.stdout ?? ""}${e.stderr ?? ""}`);
  }
}

/** Relative paths (with "/") of all files below dir, sorted. */
function listFiles(dir: string, prefix = ""): string[] {
  const out: string[] = [];
  for (const d of readdirSync(join(dir, prefix), { withFileTypes: true })) {
    const rel = prefix ? `${prefix}/${d.name}` : d.name;
    if (d.isDirectory()) out.push(...listFiles(dir, rel));
    else if (d.isFile()) out.push(rel);
  }
  return out.sort();
}

describe("protobuf contracts", function () {
  this.timeout(30_000);

  it("passes buf lint (STANDARD)", () => {
    const out = runBuf(["lint"]);
    assert.equal(out.trim(), "");
  });

  it("has an up-to-date gen/ (buf generate output is byte-identical)", () => {
    const tmp = mkdtempSync(join(tmpdir(), "rollcall-gen-"));
    try {
      // -o prefixes the template's `out: gen`, so this uses the committed buf.gen.yaml unchanged
      // (including `clean: true`, which then only cleans <tmp>/gen).
      runBuf(["generate", "-o", tmp]);
      const fresh = join(tmp, "gen");
      const committed = join(root, "gen");
      const freshFiles = listFiles(fresh);
      const committedFiles = listFiles(committed);
      assert.ok(freshFiles.length > 0, "buf generate produced no files");
      assert.deepEqual(committedFiles, freshFiles, "gen/ has missing or extra files; run `npx buf generate`");
      for (const f of freshFiles) {
        const same = readFileSync(join(fresh, f)).equals(readFileSync(join(committed, f)));
        assert.ok(same, `gen/${f} is stale; run \`npx buf generate\``);
      }
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });

  it("exposes the expected services and RPCs", () => {
    const expected = new Map<{ typeName: string; methods: { name: string }[] }, [string, string[]]>([
      [OrganizationService, ["rollcall.identity.v1.OrganizationService", [
        "CreateOrganization", "GetOrganization", "ListOrganizations", "UpdateOrganization",
        "VerifyOrganization", "SuspendOrganization", "ResumeOrganization", "RequestOrganizationDeletion",
      ]]],
      [UserService, ["rollcall.identity.v1.UserService", [
        "CreateUser", "GetUser", "ListUsers", "UpdateUser", "BanUser", "DeleteUser", "RestoreUser",
      ]]],
      [AuthService, ["rollcall.identity.v1.AuthService", [
        "Login", "Refresh", "Logout", "RevokeSession", "RevokeAllSessions", "ListSessions", "GetJwks",
        "RequestEmailVerification", "ConfirmEmail", "RequestPasswordReset", "ResetPassword", "ChangePassword", "IssueServiceToken",
      ]]],
      [OAuthService, ["rollcall.identity.v1.OAuthService", [
        "CreateOAuthProvider", "ListOAuthProviders", "DeleteOAuthProvider", "StartOAuthLogin", "CompleteOAuthLogin",
      ]]],
      [DeviceService, ["rollcall.identity.v1.DeviceService", [
        "RegisterDevice", "GetDevice", "ListDevices", "UpdateDevice", "DisableDevice", "RotateDeviceSecret",
        "IssueDeviceToken",
      ]]],
      [ConfigService, ["rollcall.identity.v1.ConfigService", [
        "GetConfig", "SetConfig", "DeleteConfig", "ListConfig", "GetAppSetting", "SetAppSetting",
      ]]],
      [AuthzService, ["rollcall.authz.v1.AuthzService", [
        "Check", "BatchCheck", "ResolveScope", "ListEffectivePermissions",
      ]]],
      [AuthzAdminService, ["rollcall.authz.v1.AuthzAdminService", [
        "CreateRole", "GetRole", "ListRoles", "UpdateRole", "DeleteRole",
        "CreateResource", "ListResources", "UpdateResource", "DeleteResource",
        "CreatePermission", "ListPermissions", "DeletePermission",
        "GrantPermission", "RevokeGrant", "ListGrants",
        "AssignRole", "UnassignRole", "ListUserRoles", "ListRoleMembers", "SeedOrganization", "GetRevision",
      ]]],
      [VisionService, ["rollcall.vision.v1.VisionService", [
        "Detect", "Identify", "Verify", "Enrol", "ListFaces", "DeleteFace", "DeleteUserFaces",
        "RebuildIndex", "IndexStats", "StreamFrames",
      ]]],
      [AttendanceService, ["rollcall.attendance.v1.AttendanceService", [
        "GetToday", "ListWhoIsIn", "ListRecords", "GetSummary", "RecordManualEvent", "CorrectRecord",
        "ExportRecords",
      ]]],
      [AuditService, ["rollcall.audit.v1.AuditService", [
        "ListAuditLogs", "ExportAuditLogs", "VerifyChain", "ListSystemLogs", "ListHealth",
        "ListEvents", "AcknowledgeEvent", "ResolveEvent",
        "CreateNotificationRule", "ListNotificationRules", "DeleteNotificationRule", "ListNotifications",
        "SubscribeNotifications", "GetRetentionPolicy", "SetRetentionPolicy",
      ]]],
    ]);
    for (const [svc, [typeName, methods]] of expected) {
      assert.equal(svc.typeName, typeName);
      assert.deepEqual(svc.methods.map((m) => m.name), methods, `${typeName} RPCs`);
    }
  });

  it("declares the streaming RPCs with the right kinds", () => {
    assert.equal(VisionService.method.streamFrames.methodKind, "bidi_streaming");
    assert.equal(AttendanceService.method.exportRecords.methodKind, "server_streaming");
    assert.equal(AuditService.method.exportAuditLogs.methodKind, "server_streaming");
    assert.equal(AuditService.method.subscribeNotifications.methodKind, "server_streaming");
    assert.equal(AuthzService.method.check.methodKind, "unary");
    assert.equal(AuthzService.method.check.input.typeName, "rollcall.authz.v1.CheckRequest");
    assert.equal(AuthzService.method.check.output.typeName, "rollcall.authz.v1.CheckResponse");
  });
});
