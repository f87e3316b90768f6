import { Command, Option } from "commander";
import { AuthzAdminService, GrantSchema, RoleSchema, UserRoleSchema } from "../../gen/rollcall/authz/v1/admin_pb.js";
import { Scope } from "../../gen/rollcall/authz/v1/authz_pb.js";
import { protoJson, time } from "../output.js";
import { findPermission, findRole, findUser, listAll } from "../resolve.js";
import { withMesh } from "../run.js";

/** rollcall role list|show|create|delete|grant|revoke. */
export function roleCommand(): Command {
  const role = new Command("role").description("manage roles and the permissions they grant");

  role.command("list")
    .description("list the roles of your organisation")
    .action(withMesh(async ({ conn, out }) => {
      const roles = await listAll(async (pageToken) => {
        const page = await conn.client(AuthzAdminService).listRoles({ page: { pageSize: 500, pageToken } });
        return { items: page.roles, next: page.page?.nextPageToken ?? "" };
      });
      out.result({ roles: roles.map((r) => protoJson(RoleSchema, r)) }, () =>
        out.table(["NAME", "SYSTEM", "DESCRIPTION", "ID"], roles.map((r) => [r.name, r.isSystemRole ? "yes" : "no", r.description, r.id])));
    }));

  role.command("show <role>")
    .description("show a role and its grants")
    .action(withMesh(async ({ conn, out }, _opts, ref: string) => {
      const found = await findRole(conn, ref);
      const { grants } = await conn.client(AuthzAdminService).listGrants({ roleId: found.id });
      out.result({ role: protoJson(RoleSchema, found), grants: grants.map((g) => protoJson(GrantSchema, g)) }, () => {
        out.line(`${found.name}${found.isSystemRole ? " (system role)" : ""} ${found.id}${found.description ? `: ${found.description}` : ""}`);
        out.table(["PERMISSION", "SCOPE"], grants.map((g) => [`${g.resource}.${g.action}`, Scope[g.scope]]), "(no grants)");
      });
    }));

  role.command("create <name>")
    .description("create a custom role")
    .option("-d, --description <text>", "what it is for", "")
    .option("--color <hex>", "display colour #RRGGBB", "")
    .action(withMesh<{ description: string; color: string }>(async ({ conn, out }, opts, name: string) => {
      const { role: created, revision } = await conn.client(AuthzAdminService).createRole({ name, description: opts.description, color: opts.color });
      out.result({ role: protoJson(RoleSchema, created!), revision: String(revision) }, () => out.line(`created role ${created!.name} (${created!.id})`));
    }));

  role.command("delete <role>")
    .description("delete a custom role with its grants and assignments")
    .action(withMesh(async ({ conn, out }, _opts, ref: string) => {
      const found = await findRole(conn, ref);
      const { revision } = await conn.client(AuthzAdminService).deleteRole({ roleId: found.id });
      out.result({ deleted: found.id, revision: String(revision) }, () => out.line(`deleted role ${found.name}`));
    }));

  role.command("grant <role> <permission>")
    .description("grant a permission (<resource>.<action>, e.g. attendance.read) to a role")
    .addOption(new Option("-s, --scope <scope>", "ALL entities or only the subject's OWN").choices(["all", "own", "ALL", "OWN"]).default("all"))
    .action(withMesh<{ scope: string }>(async ({ conn, out }, opts, roleRef: string, permissionRef: string) => {
      const [found, permission] = await Promise.all([findRole(conn, roleRef), findPermission(conn, permissionRef)]);
      const scope = opts.scope.toLowerCase() === "own" ? Scope.OWN : Scope.ALL;
      const { grant, revision } = await conn.client(AuthzAdminService).grantPermission({ roleId: found.id, permissionId: permission.id, scope });
      out.result({ grant: protoJson(GrantSchema, grant!), revision: String(revision) }, () =>
        out.line(`role ${found.name} may now ${grant!.action} ${grant!.resource} (${Scope[grant!.scope]})`));
    }));

  role.command("revoke <role> <permission>")
    .description("remove a permission from a role")
    .action(withMesh(async ({ conn, out }, _opts, roleRef: string, permissionRef: string) => {
      const [found, permission] = await Promise.all([findRole(conn, roleRef), findPermission(conn, permissionRef)]);
      const { revision } = await conn.client(AuthzAdminService).revokeGrant({ roleId: found.id, permissionId: permission.id });
      out.result({ roleId: found.id, permissionId: permission.id, revision: String(revision) }, () =>
        out.line(`role ${found.name} no longer holds ${permission.resource}.${permission.action}`));
    }));

  return role;
}

/** rollcall grant assign|unassign|list: which users hold which roles. */
export function grantCommand(): Command {
  const grant = new Command("grant").description("assign roles to users");

  grant.command("assign <user> <role>")
    .description("give a user a role (idempotent)")
    .action(withMesh(async ({ conn, out }, _opts, userRef: string, roleRef: string) => {
      const [user, found] = await Promise.all([findUser(conn, userRef), findRole(conn, roleRef)]);
      const { userRole, revision } = await conn.client(AuthzAdminService).assignRole({ userId: user.id, roleId: found.id });
      out.result({ userRole: protoJson(UserRoleSchema, userRole!), revision: String(revision) }, () => out.line(`${user.username} now holds ${found.name}`));
    }));

  grant.command("unassign <user> <role>")
    .description("take a role from a user (the last ADMIN cannot be removed)")
    .action(withMesh(async ({ conn, out }, _opts, userRef: string, roleRef: string) => {
      const [user, found] = await Promise.all([findUser(conn, userRef), findRole(conn, roleRef)]);
      const { revision } = await conn.client(AuthzAdminService).unassignRole({ userId: user.id, roleId: found.id });
      out.result({ userId: user.id, roleId: found.id, revision: String(revision) }, () => out.line(`${user.username} no longer holds ${found.name}`));
    }));

  grant.command("list <user>")
    .description("list a user's roles")
    .action(withMesh(async ({ conn, out }, _opts, userRef: string) => {
      const user = await findUser(conn, userRef);
      const { userRoles } = await conn.client(AuthzAdminService).listUserRoles({ userId: user.id });
      out.result({ userId: user.id, userRoles: userRoles.map((r) => protoJson(UserRoleSchema, r)) }, () =>
        out.table(["ROLE", "ASSIGNED", "BY"], userRoles.map((r) => [r.role, time(r.assignedAt), r.assignedBy || "system"]), "(no roles)"));
    }));

  return grant;
}
