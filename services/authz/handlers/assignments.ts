import type { Transaction } from "sequelize";
import type { AuthzAdminService } from "../../../gen/rollcall/authz/v1/admin_pb.js";
import { failedPrecondition, invalidArgument, notFound, permissionDenied } from "../../runtime/errors.js";
import type { ServiceImpl } from "../../runtime/grpc/context.js";
import { pageOf, readPage } from "../../runtime/pagination.js";
import { uuid } from "../../runtime/validate.js";
import { callerOf, isPlatform, targetOrganization } from "../../runtime/authz/callers.js";
import { seedRoles } from "../seed.js";
import type { RoleRow } from "../store/role-store.js";
import { roleName } from "../validate.js";
import type { Authz } from "../context.js";

type AssignmentMethods = "assignRole" | "unassignRole" | "listUserRoles" | "listRoleMembers" | "seedOrganization" | "getRevision";

/**
 * Who holds which role, seeding, and the revision. Assigning needs roles:assign (it can make
 * anyone an ADMIN, so it is an administrator's power); listing needs roles:read, except a
 * user's own roles.
 */
export function assignmentHandlers({ db, access, writer, roles }: Authz): Pick<ServiceImpl<typeof AuthzAdminService>, AssignmentMethods> {
  /** The role a request names by exactly one of role_id and role_name, in the organisation. */
  const namedRole = (req: { roleId: string; roleName: string }) => {
    if (Boolean(req.roleId) === Boolean(req.roleName)) throw invalidArgument("role_id", "give exactly one of role_id and role_name");
    const roleId = req.roleId ? uuid("role_id", req.roleId) : undefined;
    const name = req.roleName ? roleName("role_name", req.roleName) : undefined;
    return async (tx: Transaction, org: string): Promise<RoleRow> => {
      const role = roleId ? await roles.role(tx, roleId) : await roles.roleByName(tx, org, name!);
      if (!role) throw notFound("role", roleId ?? name!);
      return role;
    };
  };

  return {
    async assignRole(req, ctx) {
      const userId = uuid("user_id", req.userId);
      const findRole = namedRole(req);
      const caller = callerOf(ctx);
      const org = await access.organization(ctx, req.organizationId, "assign", "newest");
      const { value: userRole, revision } = await writer.write(org, async (tx) => {
        const role = await findRole(tx, org);
        const assignedBy = caller.kind === "user" ? caller.subject : null;
        const added = await roles.assign(tx, org, userId, role.id, assignedBy);
        return { value: (await roles.userRole(tx, userId, role.id))!, change: added ? { kind: "user_role.assigned", subjectId: userId } : undefined };
      });
      return { userRole, revision };
    },

    async unassignRole(req, ctx) {
      const userId = uuid("user_id", req.userId);
      const findRole = namedRole(req);
      const org = await access.organization(ctx, req.organizationId, "assign", "newest");
      const { revision } = await writer.write(org, async (tx) => {
        const role = await findRole(tx, org);
        const held = await roles.userRole(tx, userId, role.id);
        if (!held) return { value: undefined };
        // Serialised with every other policy write of the organisation, so two administrators
        // removing each other cannot both pass this check.
        if (role.isSystemRole && role.name === "ADMIN" && (await roles.memberCount(tx, role.id)) <= 1) {
          throw failedPrecondition(`user ${userId} is the last ADMIN of this organisation; make someone else ADMIN first`);
        }
        await roles.unassign(tx, userId, role.id);
        return { value: undefined, change: { kind: "user_role.unassigned", subjectId: userId } };
      });
      return { revision };
    },

    async listUserRoles(req, ctx) {
      const userId = uuid("user_id", req.userId);
      const org = targetOrganization(ctx, req.organizationId);
      if (callerOf(ctx).subject !== userId) await access.require(ctx, org, "read", "cached");
      return { userRoles: await db.withTenant(org, (tx) => roles.userRoles(tx, org, userId)) };
    },

    async listRoleMembers(req, ctx) {
      const page = readPage(req.page);
      const org = await access.organizationOf(ctx, "roles", req.roleId, "read", "cached");
      const rows = await db.withTenant(org!, async (tx) => {
        if (!(await roles.role(tx, req.roleId))) throw notFound("role", req.roleId);
        return roles.members(tx, req.roleId, page.after, page.limit + 1);
      });
      const { items, nextPageToken } = pageOf(rows, page.limit, (m) => ({ key: m.cursorKey, id: m.userId }));
      return { userRoles: items, page: { nextPageToken } };
    },

    async seedOrganization(req, ctx) {
      const org = uuid("organization_id", req.organizationId);
      const admin = req.adminUserId ? uuid("admin_user_id", req.adminUserId) : undefined;
      // The first seed is the platform's (identity, with a service token); afterwards an
      // administrator may re-seed, which only recreates what is missing.
      await access.require(ctx, org, "update", "newest");
      const { value, revision } = await writer.write(org, (tx) => seedRoles(tx, roles, org, admin));
      return { ...value, revision };
    },

    async getRevision(req, ctx) {
      const org = uuid("organization_id", req.organizationId);
      const caller = callerOf(ctx);
      if (!isPlatform(caller) && caller.organizationId !== org) {
        throw permissionDenied(`your token is for organisation ${caller.organizationId}; only platform operators may read organisation ${org}`);
      }
      return { revision: await writer.revisionNow(org) };
    },
  };
}
