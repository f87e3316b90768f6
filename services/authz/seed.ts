import type { Transaction } from "sequelize";
import { Sql, type Database } from "../runtime/db/index.js";
import type { Bus } from "../runtime/bus/bus.js";
import type { Logger } from "../runtime/logger.js";
import { uuid } from "../runtime/validate.js";
import { DEFAULT_GRANTS, SYSTEM_ROLES, SYSTEM_ROLE_DESCRIPTIONS, builtInId } from "./policy/catalogue.js";
import { RoleStore, type RoleRow } from "./store/role-store.js";
import { PolicyWriter, type WriteOutcome } from "./store/policy-writer.js";

export interface SeedResult {
  /** ADMIN, OPERATOR, USER. */
  roles: RoleRow[];
  revision: bigint;
  /** False when the system roles existed already. */
  created: boolean;
}

/**
 * Creates the missing system roles with their default grants and, given `adminUserId`, makes
 * that user an ADMIN. A role that exists is left as it is, grants an administrator removed
 * included, so seeding twice changes nothing.
 */
export async function seedRoles(tx: Transaction, roles: RoleStore, organizationId: string, adminUserId: string | undefined): Promise<WriteOutcome<Omit<SeedResult, "revision">>> {
  const existing = await roles.systemRoles(tx, organizationId);
  const missing = SYSTEM_ROLES.filter((name) => !existing.some((r) => r.name === name));
  for (const name of missing) {
    const role = await roles.insertRole(tx, organizationId, { name, description: SYSTEM_ROLE_DESCRIPTIONS[name], color: "" }, true);
    const grants = DEFAULT_GRANTS[name].map(([resource, action, scope]) => ({ permissionId: builtInId("permission", `${resource}.${action}`), scope }));
    await roles.addGrants(tx, organizationId, role.id, grants);
    existing.push(role);
  }
  const admin = existing.find((r) => r.name === "ADMIN")!;
  const assigned = adminUserId !== undefined && (await roles.assign(tx, organizationId, adminUserId, admin.id, null));
  const value = { roles: SYSTEM_ROLES.map((name) => existing.find((r) => r.name === name)!), created: missing.length > 0 };
  if (missing.length > 0) return { value, change: { kind: "organization.seeded" } };
  if (assigned) return { value, change: { kind: "user_role.assigned", subjectId: adminUserId } };
  return { value };
}

/**
 * Seeding from another service's process, on the same database: what identity could call when
 * it creates an organisation. Prefer the SeedOrganization RPC with a service token: in
 * production identity and authz run apart and authz's tables are authz's alone.
 */
export async function seedOrganization(
  deps: { db: Database; bus: Bus; logger: Logger },
  organizationId: string,
  adminUserId?: string,
): Promise<SeedResult> {
  const writer = new PolicyWriter(deps.db, deps.bus, deps.logger);
  const roles = new RoleStore(new Sql(deps.db.sequelize));
  const org = uuid("organization_id", organizationId);
  const admin = adminUserId === undefined ? undefined : uuid("admin_user_id", adminUserId);
  const { value, revision } = await writer.write(org, (tx) => seedRoles(tx, roles, org, admin));
  return { ...value, revision };
}
