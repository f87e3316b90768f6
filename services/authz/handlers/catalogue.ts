import type { Transaction } from "sequelize";
import type { AuthzAdminService } from "../../../gen/rollcall/authz/v1/admin_pb.js";
import { alreadyExists, failedPrecondition, notFound } from "../../runtime/errors.js";
import type { ServiceImpl } from "../../runtime/grpc/context.js";
import { text, uuid } from "../../runtime/validate.js";
import type { ResourceRow } from "../store/catalogue-store.js";
import { description, identifier } from "../validate.js";
import type { Authz } from "../context.js";

type CatalogueMethods =
  | "createResource" | "listResources" | "updateResource" | "deleteResource"
  | "createPermission" | "listPermissions" | "deletePermission";

/**
 * An organisation's own resources and permissions beside the built-in ones. Changing them is
 * changing the policy, so it needs roles:update; listing needs roles:read. Built-ins are read-only.
 */
export function catalogueHandlers({ db, access, writer, catalogue }: Authz): Pick<ServiceImpl<typeof AuthzAdminService>, CatalogueMethods> {
  const customResource = async (tx: Transaction, resourceId: string): Promise<ResourceRow> => {
    const resource = await catalogue.resource(tx, resourceId);
    if (!resource) throw notFound("resource", resourceId);
    if (resource.builtIn) throw failedPrecondition(`resource ${resource.name} is built in and read-only`);
    return resource;
  };
  /** The organisation of a custom row; a built-in one (no organisation) is refused. */
  const customRowOrganization = async (...args: Parameters<Authz["access"]["organizationOf"]>): Promise<string> => {
    const org = await access.organizationOf(...args);
    if (org === null) throw failedPrecondition(`${args[1].slice(0, -1)} ${args[2]} is built in and read-only`);
    return org;
  };

  return {
    async createResource(req, ctx) {
      const fields = { name: identifier("name", req.name), description: description("description", req.description), hasOwner: req.hasOwner };
      const org = await access.organization(ctx, req.organizationId, "update", "newest");
      const { value: resource, revision } = await writer.write(org, async (tx) => {
        const clash = await catalogue.resourceByName(tx, org, fields.name);
        if (clash) throw alreadyExists(`a ${clash.builtIn ? "built-in " : ""}resource named ${fields.name}`);
        return { value: await catalogue.insertResource(tx, org, fields), change: { kind: "resource.created" } };
      });
      return { resource, revision };
    },

    async listResources(req, ctx) {
      const org = await access.organization(ctx, req.organizationId, "read", "cached");
      return { resources: await db.withTenant(org, (tx) => catalogue.resources(tx, org, req.includeInactive)) };
    },

    async updateResource(req, ctx) {
      const changes = {
        description: req.description === undefined ? undefined : description("description", req.description),
        hasOwner: req.hasOwner,
        isActive: req.isActive,
      };
      const org = await customRowOrganization(ctx, "resources", req.resourceId, "update", "newest");
      const { value: resource, revision } = await writer.write(org, async (tx) => {
        const resource = await customResource(tx, req.resourceId);
        if (changes.hasOwner === false && resource.hasOwner) {
          const owned = await catalogue.ownGrantCount(tx, resource.id);
          if (owned > 0) {
            throw failedPrecondition(`${owned} grant(s) of ${resource.name} have OWN scope, which needs an owner; re-grant them with SCOPE_ALL or revoke them first`);
          }
        }
        return { value: await catalogue.updateResource(tx, resource.id, changes), change: { kind: "resource.updated" } };
      });
      return { resource, revision };
    },

    async deleteResource(req, ctx) {
      const org = await customRowOrganization(ctx, "resources", req.resourceId, "update", "newest");
      const { revision } = await writer.write(org, async (tx) => {
        await catalogue.deleteResource(tx, (await customResource(tx, req.resourceId)).id);
        return { value: undefined, change: { kind: "resource.deleted" } };
      });
      return { revision };
    },

    async createPermission(req, ctx) {
      const resourceId = uuid("resource_id", req.resourceId);
      const action = identifier("action", req.action);
      const givenName = req.name ? text("name", req.name, { min: 1, max: 128 }) : undefined;
      const fields = { resourceId, action, description: description("description", req.description) };
      const org = await access.organization(ctx, req.organizationId, "update", "newest");
      const { value: permission, revision } = await writer.write(org, async (tx) => {
        const resource = await catalogue.resource(tx, resourceId);
        if (!resource) throw notFound("resource", resourceId);
        const name = givenName ?? `${resource.name}.${action}`;
        const clash = await catalogue.clashingPermission(tx, org, resourceId, action, name);
        if (clash) throw alreadyExists(`permission ${clash.name} (${clash.resource}.${clash.action})`);
        return { value: await catalogue.insertPermission(tx, org, { ...fields, name }), change: { kind: "permission.created" } };
      });
      return { permission, revision };
    },

    async listPermissions(req, ctx) {
      const resourceId = req.resourceId ? uuid("resource_id", req.resourceId) : undefined;
      const org = await access.organization(ctx, req.organizationId, "read", "cached");
      return { permissions: await db.withTenant(org, (tx) => catalogue.permissions(tx, org, resourceId)) };
    },

    async deletePermission(req, ctx) {
      const org = await customRowOrganization(ctx, "permissions", req.permissionId, "update", "newest");
      const { revision } = await writer.write(org, async (tx) => {
        const permission = await catalogue.permission(tx, req.permissionId);
        if (!permission) throw notFound("permission", req.permissionId);
        if (!permission.organizationId) throw failedPrecondition(`permission ${permission.name} is built in and cannot be deleted`);
        await catalogue.deletePermission(tx, permission.id);
        return { value: undefined, change: { kind: "permission.deleted" } };
      });
      return { revision };
    },
  };
}
