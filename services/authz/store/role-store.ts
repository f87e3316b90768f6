import { randomUUID } from "node:crypto";
import type { Transaction } from "sequelize";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { Sql } from "../../runtime/db/index.js";
import type { Cursor } from "../../runtime/pagination.js";
import type { Grant as GrantMessage, Role, UserRole as UserRoleMessage } from "../../../gen/rollcall/authz/v1/admin_pb.js";
import type { Fields } from "../messages.js";
import type { ScopeName } from "../policy/catalogue.js";
import { toScope } from "../validate.js";

export type RoleRow = Fields<Role>;

export type RoleFields = Pick<RoleRow, "name" | "description" | "color">;

const ROLE_COLUMNS = `id, organization_id AS "organizationId", name, description, color, is_system_role AS "isSystemRole"`;
const ROLE = `SELECT ${ROLE_COLUMNS} FROM authz.roles`;

const GRANT = `SELECT g.role_id AS "roleId", g.permission_id AS "permissionId", g.scope, ro.name AS role, r.name AS resource, p.action
  FROM authz.grants g JOIN authz.roles ro ON ro.id = g.role_id
  JOIN authz.permissions p ON p.id = g.permission_id JOIN authz.resources r ON r.id = p.resource_id`;

const USER_ROLE = `SELECT ur.user_id AS "userId", ur.role_id AS "roleId", ro.name AS role, ur.organization_id AS "organizationId",
  COALESCE(ur.assigned_by::text, '') AS "assignedBy", ur.assigned_at AS "assignedAt", ur.assigned_at::text AS "cursorKey"
  FROM authz.user_roles ur JOIN authz.roles ro ON ro.id = ur.role_id`;

export type Grant = Fields<GrantMessage>;

/** A row of ListUserRoles / ListRoleMembers, with its page cursor. */
export type UserRole = Fields<UserRoleMessage> & { cursorKey: string };

type GrantRow = Omit<Grant, "scope"> & { scope: ScopeName };
type UserRoleRow = Omit<UserRole, "assignedAt"> & { assignedAt: Date };

/** Roles, grants and assignments: tenant rows, reached inside withTenant (or withSystem for platform look-ups). */
export class RoleStore {
  constructor(private readonly sql: Sql) {}

  role(tx: Transaction, id: string): Promise<RoleRow | undefined> {
    return this.sql.row<RoleRow>(tx, `${ROLE} WHERE id = $1`, [id]);
  }

  roleByName(tx: Transaction, organizationId: string, name: string): Promise<RoleRow | undefined> {
    return this.sql.row<RoleRow>(tx, `${ROLE} WHERE organization_id = $1 AND lower(name) = lower($2)`, [organizationId, name]);
  }

  systemRoles(tx: Transaction, organizationId: string): Promise<RoleRow[]> {
    return this.sql.rows<RoleRow>(tx, `${ROLE} WHERE organization_id = $1 AND is_system_role ORDER BY name`, [organizationId]);
  }

  /** System roles first, then by name; `after` is a cursor from roleCursor. */
  listRoles(tx: Transaction, organizationId: string, after: Cursor | undefined, limit: number): Promise<RoleRow[]> {
    const bind: unknown[] = [organizationId, limit];
    let where = "";
    if (after) {
      bind.push(after.key.startsWith("0"), after.key.slice(1), after.id);
      where = "AND (NOT is_system_role, lower(name), id) > (NOT $3::boolean, lower($4), $5::uuid)";
    }
    return this.sql.rows<RoleRow>(tx, `${ROLE} WHERE organization_id = $1 ${where} ORDER BY NOT is_system_role, lower(name), id LIMIT $2`, bind);
  }

  async insertRole(tx: Transaction, organizationId: string, fields: RoleFields, isSystemRole = false): Promise<RoleRow> {
    const row = await this.sql.row<RoleRow>(
      tx,
      `INSERT INTO authz.roles (id, organization_id, name, description, color, is_system_role) VALUES ($1, $2, $3, $4, $5, $6)
       RETURNING ${ROLE_COLUMNS}`,
      [randomUUID(), organizationId, fields.name, fields.description, fields.color, isSystemRole],
    );
    return row!;
  }

  async updateRole(tx: Transaction, id: string, fields: RoleFields): Promise<RoleRow> {
    const row = await this.sql.row<RoleRow>(
      tx,
      `UPDATE authz.roles SET name = $2, description = $3, color = $4, updated_at = now() WHERE id = $1
       RETURNING ${ROLE_COLUMNS}`,
      [id, fields.name, fields.description, fields.color],
    );
    return row!;
  }

  /** Deletes the role; its grants and assignments go with it (ON DELETE CASCADE). */
  async deleteRole(tx: Transaction, id: string): Promise<void> {
    await this.sql.execute(tx, "DELETE FROM authz.roles WHERE id = $1", [id]);
  }

  async grants(tx: Transaction, roleId: string): Promise<Grant[]> {
    const rows = await this.sql.rows<GrantRow>(tx, `${GRANT} WHERE g.role_id = $1 ORDER BY r.name, p.action`, [roleId]);
    return rows.map((g) => ({ ...g, scope: toScope(g.scope) }));
  }

  async grant(tx: Transaction, roleId: string, permissionId: string): Promise<Grant | undefined> {
    const row = await this.sql.row<GrantRow>(tx, `${GRANT} WHERE g.role_id = $1 AND g.permission_id = $2`, [roleId, permissionId]);
    return row && { ...row, scope: toScope(row.scope) };
  }

  /** Inserts or re-scopes a grant; false when it already had this scope. */
  async putGrant(tx: Transaction, organizationId: string, roleId: string, permissionId: string, scope: ScopeName): Promise<boolean> {
    const touched = await this.sql.execute(
      tx,
      `INSERT INTO authz.grants (organization_id, role_id, permission_id, scope) VALUES ($1, $2, $3, $4)
       ON CONFLICT (role_id, permission_id) DO UPDATE SET scope = EXCLUDED.scope, granted_at = now()
       WHERE authz.grants.scope <> EXCLUDED.scope`,
      [organizationId, roleId, permissionId, scope],
    );
    return touched > 0;
  }

  /** Several grants at once, keeping existing ones (seeding); returns how many were new. */
  async addGrants(tx: Transaction, organizationId: string, roleId: string, grants: { permissionId: string; scope: ScopeName }[]): Promise<number> {
    if (grants.length === 0) return 0;
    return this.sql.execute(
      tx,
      `INSERT INTO authz.grants (organization_id, role_id, permission_id, scope)
       SELECT $1, $2, g.permission_id, g.scope FROM unnest($3::uuid[], $4::text[]) AS g (permission_id, scope)
       ON CONFLICT (role_id, permission_id) DO NOTHING`,
      [organizationId, roleId, grants.map((g) => g.permissionId), grants.map((g) => g.scope)],
    );
  }

  async deleteGrant(tx: Transaction, roleId: string, permissionId: string): Promise<boolean> {
    return (await this.sql.execute(tx, "DELETE FROM authz.grants WHERE role_id = $1 AND permission_id = $2", [roleId, permissionId])) > 0;
  }

  /** Adds the assignment; false when the user already held the role. */
  async assign(tx: Transaction, organizationId: string, userId: string, roleId: string, assignedBy: string | null): Promise<boolean> {
    const touched = await this.sql.execute(
      tx,
      `INSERT INTO authz.user_roles (user_id, role_id, organization_id, assigned_by) VALUES ($1, $2, $3, $4)
       ON CONFLICT (user_id, role_id) DO NOTHING`,
      [userId, roleId, organizationId, assignedBy],
    );
    return touched > 0;
  }

  async unassign(tx: Transaction, userId: string, roleId: string): Promise<boolean> {
    return (await this.sql.execute(tx, "DELETE FROM authz.user_roles WHERE user_id = $1 AND role_id = $2", [userId, roleId])) > 0;
  }

  async memberCount(tx: Transaction, roleId: string): Promise<number> {
    const row = await this.sql.row<{ count: string }>(tx, "SELECT count(*) AS count FROM authz.user_roles WHERE role_id = $1", [roleId]);
    return Number(row!.count);
  }

  async userRole(tx: Transaction, userId: string, roleId: string): Promise<UserRole | undefined> {
    const row = await this.sql.row<UserRoleRow>(tx, `${USER_ROLE} WHERE ur.user_id = $1 AND ur.role_id = $2`, [userId, roleId]);
    return row && userRoleOf(row);
  }

  /**
   * Removes an organisation's whole policy (a deleted tenant): assignments, grants, roles, its
   * own permissions and resources, revisions and their history. Built-in resources stay.
   */
  async deleteOrganization(tx: Transaction, organizationId: string): Promise<void> {
    for (const table of ["user_roles", "grants", "roles", "permissions", "resources", "policy_changes", "revisions"]) {
      await this.sql.execute(tx, `DELETE FROM authz.${table} WHERE organization_id = $1`, [organizationId]);
    }
  }

  async userRoles(tx: Transaction, organizationId: string, userId: string): Promise<UserRole[]> {
    const rows = await this.sql.rows<UserRoleRow>(tx, `${USER_ROLE} WHERE ur.organization_id = $1 AND ur.user_id = $2 ORDER BY ro.name`, [organizationId, userId]);
    return rows.map(userRoleOf);
  }

  /** Ordered by assigned_at, user_id; `after.key` is the assigned_at text of the previous page's last row. */
  async members(tx: Transaction, roleId: string, after: Cursor | undefined, limit: number): Promise<UserRole[]> {
    const bind: unknown[] = [roleId, limit];
    let where = "";
    if (after) {
      bind.push(after.key, after.id);
      where = "AND (ur.assigned_at, ur.user_id) > ($3::timestamptz, $4::uuid)";
    }
    const rows = await this.sql.rows<UserRoleRow>(tx, `${USER_ROLE} WHERE ur.role_id = $1 ${where} ORDER BY ur.assigned_at, ur.user_id LIMIT $2`, bind);
    return rows.map(userRoleOf);
  }
}

/** Cursor of ListRoles: "0" + name for system roles, "1" + name for the others (lower-cased by the query). */
export function roleCursor(role: RoleRow): Cursor {
  return { key: `${role.isSystemRole ? "0" : "1"}${role.name}`, id: role.id };
}

function userRoleOf(row: UserRoleRow): UserRole {
  return { ...row, assignedAt: timestampFromDate(row.assignedAt) };
}
