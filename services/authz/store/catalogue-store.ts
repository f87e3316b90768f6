import { randomUUID } from "node:crypto";
import type { Transaction } from "sequelize";
import type { Sql } from "../../runtime/db/index.js";
import type { Permission, Resource } from "../../../gen/rollcall/authz/v1/admin_pb.js";
import type { Fields } from "../messages.js";
import { BUILT_IN_RESOURCES, builtInId, builtInPermissions } from "../policy/catalogue.js";

/** organization_id is empty for built-ins. */
export type ResourceRow = Fields<Resource>;
export type PermissionRow = Fields<Permission>;

export type ResourceChanges = Partial<Pick<ResourceRow, "description" | "hasOwner" | "isActive">>;

const RESOURCE = `SELECT id, COALESCE(organization_id::text, '') AS "organizationId", name, description, has_owner AS "hasOwner",
  is_active AS "isActive", organization_id IS NULL AS "builtIn" FROM authz.resources`;
const PERMISSION = `SELECT p.id, COALESCE(p.organization_id::text, '') AS "organizationId", p.name, p.resource_id AS "resourceId",
  r.name AS resource, p.action, p.description FROM authz.permissions p JOIN authz.resources r ON r.id = p.resource_id`;
/** Rows an organisation sees: its own and the built-ins (row-level security shows no others). */
const VISIBLE = "(organization_id = $1 OR organization_id IS NULL)";

/** Resources and permissions; built-in rows have organization_id NULL and are written only by syncBuiltIns. */
export class CatalogueStore {
  constructor(private readonly sql: Sql) {}

  /** Writes policy/catalogue.ts's resources and permissions (inside withSystem, at start). Idempotent. */
  async syncBuiltIns(tx: Transaction): Promise<void> {
    const resources = BUILT_IN_RESOURCES;
    await this.sql.execute(
      tx,
      `INSERT INTO authz.resources (id, organization_id, name, description, has_owner)
       SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::boolean[])
       ON CONFLICT (id) DO UPDATE SET description = EXCLUDED.description, has_owner = EXCLUDED.has_owner, is_active = true`,
      [resources.map((r) => builtInId("resource", r.name)), resources.map(() => null), resources.map((r) => r.name), resources.map((r) => r.description), resources.map((r) => r.hasOwner)],
    );
    const permissions = builtInPermissions();
    await this.sql.execute(
      tx,
      `INSERT INTO authz.permissions (id, organization_id, resource_id, action, name)
       SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::text[])
       ON CONFLICT (id) DO NOTHING`,
      [permissions.map((p) => p.id), permissions.map(() => null), permissions.map((p) => p.resourceId), permissions.map((p) => p.action), permissions.map((p) => p.name)],
    );
  }

  resource(tx: Transaction, id: string): Promise<ResourceRow | undefined> {
    return this.sql.row<ResourceRow>(tx, `${RESOURCE} WHERE id = $1`, [id]);
  }

  resourceByName(tx: Transaction, organizationId: string, name: string): Promise<ResourceRow | undefined> {
    return this.sql.row<ResourceRow>(tx, `${RESOURCE} WHERE ${VISIBLE} AND name = $2`, [organizationId, name]);
  }

  /** Built-ins first, then the organisation's own, each by name. */
  resources(tx: Transaction, organizationId: string, includeInactive: boolean): Promise<ResourceRow[]> {
    return this.sql.rows<ResourceRow>(
      tx,
      `${RESOURCE} WHERE ${VISIBLE} ${includeInactive ? "" : "AND is_active"} ORDER BY organization_id IS NOT NULL, name`,
      [organizationId],
    );
  }

  async insertResource(tx: Transaction, organizationId: string, fields: Pick<ResourceRow, "name" | "description" | "hasOwner">): Promise<ResourceRow> {
    const id = randomUUID();
    await this.sql.execute(tx, "INSERT INTO authz.resources (id, organization_id, name, description, has_owner) VALUES ($1, $2, $3, $4, $5)", [
      id, organizationId, fields.name, fields.description, fields.hasOwner,
    ]);
    return (await this.resource(tx, id))!;
  }

  async updateResource(tx: Transaction, id: string, changes: ResourceChanges): Promise<ResourceRow> {
    await this.sql.execute(
      tx,
      `UPDATE authz.resources SET description = COALESCE($2, description), has_owner = COALESCE($3, has_owner),
         is_active = COALESCE($4, is_active), updated_at = now() WHERE id = $1`,
      [id, changes.description ?? null, changes.hasOwner ?? null, changes.isActive ?? null],
    );
    return (await this.resource(tx, id))!;
  }

  /** Deletes a custom resource; its permissions and their grants go with it (ON DELETE CASCADE). */
  async deleteResource(tx: Transaction, id: string): Promise<void> {
    await this.sql.execute(tx, "DELETE FROM authz.resources WHERE id = $1", [id]);
  }

  /** Grants with OWN scope on the resource's permissions (they need has_owner). */
  async ownGrantCount(tx: Transaction, resourceId: string): Promise<number> {
    const row = await this.sql.row<{ count: string }>(
      tx,
      `SELECT count(*) AS count FROM authz.grants g JOIN authz.permissions p ON p.id = g.permission_id
        WHERE p.resource_id = $1 AND g.scope = 'OWN'`,
      [resourceId],
    );
    return Number(row!.count);
  }

  permission(tx: Transaction, id: string): Promise<PermissionRow | undefined> {
    return this.sql.row<PermissionRow>(tx, `${PERMISSION} WHERE p.id = $1`, [id]);
  }

  /** The visible permission with this (resource, action) or this name, if any: either makes a new one a duplicate. */
  clashingPermission(tx: Transaction, organizationId: string, resourceId: string, action: string, name: string): Promise<PermissionRow | undefined> {
    return this.sql.row<PermissionRow>(
      tx,
      `${PERMISSION} WHERE (p.organization_id = $1 OR p.organization_id IS NULL) AND ((p.resource_id = $2 AND p.action = $3) OR p.name = $4) LIMIT 1`,
      [organizationId, resourceId, action, name],
    );
  }

  permissions(tx: Transaction, organizationId: string, resourceId: string | undefined): Promise<PermissionRow[]> {
    return this.sql.rows<PermissionRow>(
      tx,
      `${PERMISSION} WHERE (p.organization_id = $1 OR p.organization_id IS NULL) ${resourceId ? "AND p.resource_id = $2" : ""} ORDER BY r.name, p.action`,
      resourceId ? [organizationId, resourceId] : [organizationId],
    );
  }

  async insertPermission(tx: Transaction, organizationId: string, fields: Pick<PermissionRow, "resourceId" | "action" | "name" | "description">): Promise<PermissionRow> {
    const id = randomUUID();
    await this.sql.execute(tx, "INSERT INTO authz.permissions (id, organization_id, resource_id, action, name, description) VALUES ($1, $2, $3, $4, $5, $6)", [
      id, organizationId, fields.resourceId, fields.action, fields.name, fields.description,
    ]);
    return (await this.permission(tx, id))!;
  }

  async deletePermission(tx: Transaction, id: string): Promise<void> {
    await this.sql.execute(tx, "DELETE FROM authz.permissions WHERE id = $1", [id]);
  }
}
