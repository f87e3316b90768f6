import { Command } from "commander";
import { AuthzAdminService } from "../../gen/rollcall/authz/v1/admin_pb.js";
import { AuthzService, Scope } from "../../gen/rollcall/authz/v1/authz_pb.js";
import { EXIT } from "../exit-codes.js";
import { findUser, listAll } from "../resolve.js";
import { withMesh, type Run } from "../run.js";

/** Roles of the organisation whose grants would allow resource.action, with the scope. */
async function rolesAllowing({ conn }: Run, resource: string, action: string): Promise<{ role: string; scope: string }[]> {
  const admin = conn.client(AuthzAdminService);
  const roles = await listAll(async (pageToken) => {
    const page = await admin.listRoles({ page: { pageSize: 500, pageToken } });
    return { items: page.roles, next: page.page?.nextPageToken ?? "" };
  });
  const found: { role: string; scope: string }[] = [];
  for (const role of roles) {
    const { grants } = await admin.listGrants({ roleId: role.id });
    const grant = grants.find((g) => g.resource === resource && g.action === action);
    if (grant) found.push({ role: role.name, scope: Scope[grant.scope] });
  }
  return found;
}

/** rollcall check: asks authz and explains the answer. */
export function checkCommand(): Command {
  return new Command("check")
    .argument("<user>", "username, email or id")
    .argument("<resource>", "e.g. users, attendance, faces")
    .argument("<action>", "read, create, update, delete or a custom verb")
    .description("explain whether a user may do something: which role and grant allow it, or why not")
    .option("--owner [user]", "ask about an entity owned by this user (no value: owned by <user> itself)")
    .addHelpText("after", "\nExits 0 when allowed and 3 when denied.")
    .action(withMesh<{ owner?: string | true }>(async (run, opts, userRef: string, resource: string, action: string) => {
      const { conn, out } = run;
      const user = await findUser(conn, userRef);
      const owner = opts.owner === undefined ? undefined : opts.owner === true ? user : await findUser(conn, opts.owner);
      const decision = await conn.client(AuthzService).check({ subjectId: user.id, organizationId: user.organizationId, resource, action, ownerId: owner?.id });
      const { userRoles } = await conn.client(AuthzAdminService).listUserRoles({ userId: user.id });
      const heldRoles = userRoles.map((r) => r.role);
      const alternatives = decision.allowed ? [] : await rolesAllowing(run, resource, action).catch(() => []);
      out.result({
        allowed: decision.allowed, reason: decision.reason, decidedByRole: decision.decidedByRole, scope: Scope[decision.scope], revision: String(decision.revision),
        user: { id: user.id, username: user.username, roles: heldRoles }, ownerId: owner?.id ?? null, rolesAllowing: alternatives,
      }, () => {
        const target = `${resource}.${action}${owner ? ` on an entity of ${owner.username}` : ""}`;
        out.line(`${decision.allowed ? "ALLOWED" : "DENIED"}: ${user.username} ${decision.allowed ? "may" : "may not"} ${target}`);
        out.line(`  reason:   ${decision.reason}`);
        if (decision.allowed) out.line(`  granted by role ${decision.decidedByRole || "(platform operator)"} with scope ${Scope[decision.scope]}`);
        out.line(`  roles of ${user.username}: ${heldRoles.join(", ") || "none"}`);
        if (!decision.allowed) {
          out.line(alternatives.length > 0
            ? `  roles that grant ${resource}.${action}: ${alternatives.map((a) => `${a.role} (${a.scope})`).join(", ")} — \`rollcall grant assign ${user.username} <role>\``
            : `  no role grants ${resource}.${action}; \`rollcall role grant <role> ${resource}.${action}\` adds it`);
        }
        out.line(`  policy revision ${decision.revision}`);
      });
      return decision.allowed ? EXIT.OK : EXIT.PERMISSION_DENIED;
    }));
}
