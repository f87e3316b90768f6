import type { Transaction } from "sequelize";
import type { Database, Sql } from "../../runtime/db/index.js";
import type { OrganizationStanding, UserRow } from "../users/store.js";

export interface SessionRow {
  id: string;
  organization_id: string;
  user_id: string;
  device_id: string;
  user_agent: string;
  ip_address: string | null;
  family_id: string;
  refresh_token_hash: string;
  access_jti: string;
  refresh_expires_at: Date;
  last_used_at: Date;
  revoked_at: Date | null;
  revoked_reason: string | null;
  created_at: Date;
}

export type NewSession = Pick<SessionRow, "id" | "organization_id" | "user_id" | "device_id" | "user_agent" | "ip_address" | "family_id" | "refresh_token_hash" | "access_jti" | "refresh_expires_at">;

/** The row that replaces a rotated one: the rest (user, device, family) is the rotated row's; an empty user agent keeps its. */
export type Successor = Pick<SessionRow, "id" | "user_agent" | "ip_address" | "refresh_token_hash" | "access_jti" | "refresh_expires_at">;

/** What a refresh needs of the session's user: who they are, and whether they may still sign in. */
export type SessionAccount = Pick<UserRow, "id" | "organization_id" | "is_staff" | "is_active" | "deleted_at" | "ban_until">;

export interface RotatedSession {
  /** What a refresh needs of the rotated row: fewer columns to send, parse and build. */
  session: Pick<SessionRow, "family_id" | "organization_id" | "user_id">;
  account: SessionAccount | undefined;
  organization: OrganizationStanding | undefined;
}

interface AccountColumns {
  account_id: string | null;
  account_is_staff: boolean | null;
  account_is_active: boolean | null;
  account_deleted_at: Date | null;
  account_ban_until: Date | null;
  org_code: string | null;
  org_status: OrganizationStanding["status"] | null;
  org_status_reason: string | null;
}

/** Why a session row stopped being usable. "rotated" rows are the ones whose reuse is theft. */
export type RevokedReason = "rotated" | "logout" | "revoked" | "reuse_detected" | "replaced" | "password_changed" | "banned" | "deleted";

const COLUMNS = "id, organization_id, user_id, device_id, user_agent, host(ip_address) AS ip_address, family_id, refresh_token_hash, access_jti, refresh_expires_at, last_used_at, revoked_at, revoked_reason, created_at";

/** SessionStore.rotate's statement, built once: a refresh is mostly this. */
const ROTATE = `WITH s AS (
     UPDATE identity.sessions SET revoked_at = now(), revoked_reason = 'rotated', last_used_at = now()
     WHERE refresh_token_hash = $1 AND revoked_at IS NULL AND refresh_expires_at > now()
     RETURNING organization_id, user_id, device_id, user_agent, family_id),
   successor AS (
     INSERT INTO identity.sessions (id, organization_id, user_id, device_id, user_agent, ip_address, family_id, refresh_token_hash, access_jti, refresh_expires_at)
     SELECT $2, s.organization_id, s.user_id, s.device_id, coalesce(nullif($3, ''), s.user_agent), $4::inet, s.family_id, $5, $6, $7 FROM s)
   SELECT s.family_id, s.organization_id, s.user_id, u.id AS account_id, u.is_staff AS account_is_staff, u.is_active AS account_is_active,
     u.deleted_at AS account_deleted_at, u.ban_until AS account_ban_until,
     o.code AS org_code, o.status AS org_status, o.status_reason AS org_status_reason
   FROM s LEFT JOIN identity.users u ON u.id = s.user_id LEFT JOIN identity.organizations o ON o.id = u.organization_id`;

/**
 * identity.sessions. A session as users see it is a family: each refresh rotation adds a row to
 * the family and marks the previous one "rotated". Access tokens carry the family id as `sid`.
 */
export class SessionStore {
  constructor(private readonly sql: Sql) {}

  async insert(tx: Transaction, s: NewSession): Promise<void> {
    await this.sql.execute(tx,
      `INSERT INTO identity.sessions (id, organization_id, user_id, device_id, user_agent, ip_address, family_id, refresh_token_hash, access_jti, refresh_expires_at)
       VALUES ($1, $2, $3, $4, $5, $6::inet, $7, $8, $9, $10)`,
      [s.id, s.organization_id, s.user_id, s.device_id, s.user_agent, s.ip_address, s.family_id, s.refresh_token_hash, s.access_jti, s.refresh_expires_at]);
  }

  /**
   * Rotates a live, unexpired refresh token in one statement, a transaction of its own (one
   * round trip, as withSystem would see the rows): marks its row "rotated", inserts
   * its successor in the same family, and returns the rotated row with the standing of its user
   * and organisation (what refusalToSignIn needs; a refused successor is revoked with its family).
   * Undefined, and nothing inserted, when the token is unknown, already rotated or revoked, or
   * expired: byRefreshHashForUpdate then says which. A concurrent rotation of the same token waits
   * for this one's row lock, then finds it rotated.
   */
  async rotate(db: Pick<Database, "systemStatement">, hash: string, successor: Successor): Promise<RotatedSession | undefined> {
    const [row] = await db.systemStatement<RotatedSession["session"] & AccountColumns>(ROTATE,
      [hash, successor.id, successor.user_agent, successor.ip_address, successor.refresh_token_hash, successor.access_jti, successor.refresh_expires_at]);
    if (!row) return undefined;
    const { account_id, account_is_staff, account_is_active, account_deleted_at, account_ban_until, org_code, org_status, org_status_reason, ...session } = row;
    return {
      session,
      account: account_id === null ? undefined : {
        id: account_id, organization_id: session.organization_id, is_staff: account_is_staff!, is_active: account_is_active!,
        deleted_at: account_deleted_at, ban_until: account_ban_until,
      },
      organization: org_status === null ? undefined : { code: org_code!, status: org_status, status_reason: org_status_reason ?? "" },
    };
  }

  /** The row holding this refresh token, locked for the rotation. */
  byRefreshHashForUpdate(tx: Transaction, hash: string): Promise<SessionRow | undefined> {
    return this.sql.row(tx, `SELECT ${COLUMNS} FROM identity.sessions WHERE refresh_token_hash = $1 FOR UPDATE`, [hash]);
  }

  /** Revokes the live rows of families; returns the family ids that were live. */
  async revokeFamilies(tx: Transaction, where: { familyIds?: string[]; userId?: string; exceptFamily?: string; deviceId?: string }, reason: RevokedReason): Promise<string[]> {
    const conditions = ["revoked_at IS NULL"];
    const bind: unknown[] = [reason];
    if (where.familyIds) conditions.push(`family_id = ANY($${bind.push(where.familyIds)}::uuid[])`);
    if (where.userId) conditions.push(`user_id = $${bind.push(where.userId)}`);
    if (where.exceptFamily) conditions.push(`family_id <> $${bind.push(where.exceptFamily)}`);
    if (where.deviceId !== undefined) conditions.push(`device_id = $${bind.push(where.deviceId)}`);
    const rows = await this.sql.rows<{ family_id: string }>(tx,
      `UPDATE identity.sessions SET revoked_at = now(), revoked_reason = $1 WHERE ${conditions.join(" AND ")} RETURNING family_id`, bind);
    return [...new Set(rows.map((r) => r.family_id))];
  }

  /** The newest row of each family of a user: what ListSessions shows. */
  latestPerFamily(tx: Transaction, userId: string, includeRevoked: boolean): Promise<SessionRow[]> {
    return this.sql.rows(tx,
      `SELECT * FROM (SELECT DISTINCT ON (family_id) ${COLUMNS} FROM identity.sessions WHERE user_id = $1 ORDER BY family_id, created_at DESC) s
       ${includeRevoked ? "" : "WHERE revoked_at IS NULL AND refresh_expires_at > now()"} ORDER BY last_used_at DESC`, [userId]);
  }

  familyOwner(tx: Transaction, familyId: string): Promise<Pick<SessionRow, "user_id" | "organization_id"> | undefined> {
    return this.sql.row(tx, "SELECT user_id, organization_id FROM identity.sessions WHERE family_id = $1 LIMIT 1", [familyId]);
  }
}
