import type { Transaction } from "sequelize";
import { Sql, type Database } from "../../runtime/db/index.js";
import type { PolicyRows } from "../policy/compiled-policy.js";

/** How a compiled policy at some revision catches up with the database. */
export type Refresh =
  | { kind: "current"; revision: bigint }
  /** Only these subjects' assignments changed: their complete role lists now (empty = none). */
  | { kind: "subjects"; revision: bigint; subjects: { subjectId: string; roleIds: string[] }[] }
  | { kind: "full"; rows: PolicyRows };

/** A replica this far behind, or a change touching more subjects, reloads the organisation. */
const MAX_SUBJECT_DELTA = 1000;

/**
 * Reads policies for compilation. Every read takes the revision first and the rows after, in
 * the same transaction, so rows are never older than the revision they are labelled with: a
 * write committed in between makes them newer, and the next refresh catches the label up.
 */
export class PolicyStore {
  private readonly sql: Sql;

  constructor(private readonly db: Database) {
    this.sql = new Sql(db.sequelize);
  }

  /** Brings a policy at `loadedRevision` (undefined: none loaded) up to the database. */
  refresh(organizationId: string, loadedRevision: bigint | undefined): Promise<Refresh> {
    return this.db.withTenant(organizationId, async (tx) => {
      const revision = await readRevision(this.sql, tx, organizationId);
      if (loadedRevision === revision) return { kind: "current", revision };
      if (loadedRevision !== undefined && loadedRevision < revision) {
        const subjects = await this.changedSubjects(tx, organizationId, loadedRevision, revision);
        if (subjects) return { kind: "subjects", revision, subjects: await this.rolesOf(tx, organizationId, subjects) };
      }
      return { kind: "full", rows: await this.rows(tx, organizationId, revision) };
    });
  }

  /** Current revisions of several organisations (0 for those without a policy). */
  async revisions(organizationIds: readonly string[]): Promise<Map<string, bigint>> {
    const rows = await this.db.withSystem((tx) =>
      this.sql.rows<{ organization_id: string; revision: string }>(
        tx,
        "SELECT organization_id, revision FROM authz.revisions WHERE organization_id = ANY($1::uuid[])",
        [organizationIds],
      ),
    );
    const found = new Map(rows.map((r) => [r.organization_id, BigInt(r.revision)]));
    return new Map(organizationIds.map((id) => [id, found.get(id) ?? 0n]));
  }

  /** The subjects whose assignments changed in (after, upTo], or undefined when anything else changed. */
  private async changedSubjects(tx: Transaction, organizationId: string, after: bigint, upTo: bigint): Promise<string[] | undefined> {
    if (upTo - after > BigInt(MAX_SUBJECT_DELTA)) return undefined;
    const changes = await this.sql.rows<{ subject_id: string | null }>(
      tx,
      "SELECT subject_id FROM authz.policy_changes WHERE organization_id = $1 AND revision > $2 AND revision <= $3",
      [organizationId, after.toString(), upTo.toString()],
    );
    // Fewer rows than revisions: older changes were pruned, so we cannot know what they were.
    if (BigInt(changes.length) !== upTo - after || changes.some((c) => c.subject_id === null)) return undefined;
    return [...new Set(changes.map((c) => c.subject_id!))];
  }

  private async rolesOf(tx: Transaction, organizationId: string, subjectIds: string[]): Promise<{ subjectId: string; roleIds: string[] }[]> {
    const rows = await this.sql.rows<{ user_id: string; role_ids: string[] }>(
      tx,
      `SELECT user_id, array_agg(role_id::text) AS role_ids FROM authz.user_roles
        WHERE organization_id = $1 AND user_id = ANY($2::uuid[]) GROUP BY user_id`,
      [organizationId, subjectIds],
    );
    const held = new Map(rows.map((r) => [r.user_id, r.role_ids]));
    return subjectIds.map((subjectId) => ({ subjectId, roleIds: held.get(subjectId) ?? [] }));
  }

  private async rows(tx: Transaction, organizationId: string, revision: bigint): Promise<PolicyRows> {
    const org = [organizationId];
    const resources = await this.sql.rows<{ id: string; name: string; hasOwner: boolean; isActive: boolean }>(
      tx,
      `SELECT id, name, has_owner AS "hasOwner", is_active AS "isActive" FROM authz.resources
        WHERE organization_id = $1 OR organization_id IS NULL`,
      org,
    );
    const permissions = await this.sql.rows<{ id: string; resourceId: string; action: string }>(
      tx,
      `SELECT id, resource_id AS "resourceId", action FROM authz.permissions WHERE organization_id = $1 OR organization_id IS NULL`,
      org,
    );
    const roles = await this.sql.rows<{ id: string; name: string }>(tx, "SELECT id, name FROM authz.roles WHERE organization_id = $1", org);
    const grants = await this.sql.rows<{ roleId: string; permissionId: string; scope: "OWN" | "ALL" }>(
      tx,
      `SELECT role_id AS "roleId", permission_id AS "permissionId", scope FROM authz.grants WHERE organization_id = $1`,
      org,
    );
    const subjects = await this.sql.rows<{ subjectId: string; roleIds: string[] }>(
      tx,
      `SELECT user_id AS "subjectId", array_agg(role_id::text) AS "roleIds" FROM authz.user_roles
        WHERE organization_id = $1 GROUP BY user_id`,
      org,
    );
    return { organizationId, revision, resources, permissions, roles, grants, subjects };
  }
}

/** An organisation's policy revision (0 before its first write). */
export async function readRevision(sql: Sql, tx: Transaction, organizationId: string): Promise<bigint> {
  const row = await sql.row<{ revision: string }>(tx, "SELECT revision FROM authz.revisions WHERE organization_id = $1", [organizationId]);
  return row ? BigInt(row.revision) : 0n;
}
