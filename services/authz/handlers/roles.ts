import type { Transaction } from "sequelize";
import type { AuthzAdminService } from "../../../gen/rollcall/authz/v1/admin_pb.js";
import { alreadyExists, failedPrecondition, invalidArgument, notFound } from "../../runtime/errors.js";
import type { ServiceImpl } from "../../runtime/grpc/context.js";
import { pageOf, readPage } from "../../runtime/pagination.js";
import { uuid } from "../../runtime/validate.js";
import { SYSTEM_ROLES } from "../policy/catalogue.js";
import { roleCursor, type RoleRow } from "../store/role-store.js";
import { color, description, grantScope, roleName } from "../validate.js";
import type { Authz } from "../context.js";

type RoleMethods = "createRole" | "getRole" | "listRoles" | "updateRole" | "deleteRole" | "grantPermission" | "revokeGrant" | "listGrants";

/** Roles and their grants. Reads need roles:read; creating, changing and deleting roles:create/update/delete. */
export function roleHandlers({ db, access, writer, roles, catalogue }: Authz): Pick<ServiceImpl<typeof AuthzAdminService>, RoleMethods> {
  const existingRole = async (tx: Transaction, roleId: string): Promise<RoleRow> => {
    const role = await roles.role(tx, roleId);
    if (!role) throw notFound("role", roleId);
    return role;
  };

  return {
    async createRole(req, ctx) {
      const fields = { name: customRoleName(req.name), description: description("description", req.description), color: color("color", req.color) };
      const org = await access.organization(ctx, req.organizationId, "create", "newest");
      const { value: role, revision } = await writer.write(org, async (tx) => {
        if (await roles.roleByName(tx, org, fields.name)) throw alreadyExists(`a role named ${fields.name} in this organisation`);
        return { value: await roles.insertRole(tx, org, fields), change: { kind: "role.created" } };
      });
      return { role, revision };
    },

    async getRole(req, ctx) {
      const org = await access.organizationOf(ctx, "roles", req.roleId, "read", "cached");
      return { role: await db.withTenant(org!, (tx) => existingRole(tx, req.roleId)) };
    },

    async listRoles(req, ctx) {
      const page = readPage(req.page);
      const org = await access.organization(ctx, req.organizationId, "read", "cached");
      const rows = await db.withTenant(org, (tx) => roles.listRoles(tx, org, page.after, page.limit + 1));
      const { items, nextPageToken } = pageOf(rows, page.limit, roleCursor);
      return { roles: items, page: { nextPageToken } };
    },

    async updateRole(req, ctx) {
      const name = req.name === undefined ? undefined : roleName("name", req.name);
      const newDescription = req.description === undefined ? undefined : description("description", req.description);
      const newColor = req.color === undefined ? undefined : color("color", req.color);
      const org = await access.organizationOf(ctx, "roles", req.roleId, "update", "newest");
      const { value: role, revision } = await writer.write(org!, async (tx) => {
        const role = await existingRole(tx, req.roleId);
        if (name !== undefined && name !== role.name) {
          if (role.isSystemRole) throw failedPrecondition(`${role.name} is a system role and keeps its name; you may change its description and colour`);
          customRoleName(name);
          const holder = await roles.roleByName(tx, org!, name);
          if (holder && holder.id !== role.id) throw alreadyExists(`a role named ${name} in this organisation`);
        }
        const updated = await roles.updateRole(tx, role.id, {
          name: name ?? role.name,
          description: newDescription ?? role.description,
          color: newColor ?? role.color,
        });
        return { value: updated, change: { kind: "role.updated" } };
      });
      return { role, revision };
    },

    async deleteRole(req, ctx) {
      const org = await access.organizationOf(ctx, "roles", req.roleId, "delete", "newest");
      const { revision } = await writer.write(org!, async (tx) => {
        const role = await existingRole(tx, req.roleId);
        if (role.isSystemRole) throw failedPrecondition(`${role.name} is a system role and cannot be deleted`);
        await roles.deleteRole(tx, role.id);
        return { value: undefined, change: { kind: "role.deleted" } };
      });
      return { revision };
    },

    async grantPermission(req, ctx) {
      const permissionId = uuid("permission_id", req.permissionId);
      const scope = grantScope("scope", req.scope);
      const org = await access.organizationOf(ctx, "roles", req.roleId, "update", "newest");
      const { value: grant, revision } = await writer.write(org!, async (tx) => {
        const role = await existingRole(tx, req.roleId);
        const permission = await catalogue.permission(tx, permissionId);
        if (!permission) throw notFound("permission", permissionId);
        const resource = (await catalogue.resource(tx, permission.resourceId))!;
        if (scope === "OWN" && !resource.hasOwner) {
          throw failedPrecondition(`resource ${resource.name} has no owner, so an OWN grant would mean nothing; grant SCOPE_ALL, or set has_owner on the resource`);
        }
        const changed = await roles.putGrant(tx, org!, role.id, permissionId, scope);
        return { value: (await roles.grant(tx, role.id, permissionId))!, change: changed ? { kind: "grant.granted" } : undefined };
      });
      return { grant, revision };
    },

    async revokeGrant(req, ctx) {
      const permissionId = uuid("permission_id", req.permissionId);
      const org = await access.organizationOf(ctx, "roles", req.roleId, "update", "newest");
      const { revision } = await writer.write(org!, async (tx) => {
        const role = await existingRole(tx, req.roleId);
        const removed = await roles.deleteGrant(tx, role.id, permissionId);
        return { value: undefined, change: removed ? { kind: "grant.revoked" } : undefined };
      });
      return { revision };
    },

    async listGrants(req, ctx) {
      const org = await access.organizationOf(ctx, "roles", req.roleId, "read", "cached");
      const grants = await db.withTenant(org!, async (tx) => roles.grants(tx, (await existingRole(tx, req.roleId)).id));
      return { grants };
    },
  };
}

/** A name for a role that is not a system role. */
function customRoleName(value: string): string {
  const name = roleName("name", value);
  const system = SYSTEM_ROLES.find((s) => s === name.toUpperCase());
  if (system) throw invalidArgument("name", `${system} is a system role name; choose another`);
  return name;
}
