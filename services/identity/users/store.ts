import type { Transaction } from "sequelize";
import type { JsonObject } from "@bufbuild/protobuf";
import type { Sql } from "../../runtime/db/index.js";
import { escapeLike, type OrganizationRow } from "../organizations/store.js";

/** What refusalToSignIn needs of an organisation. */
export type OrganizationStanding = Pick<OrganizationRow, "code" | "status" | "status_reason">;

export interface UserRow {
  id: string;
  organization_id: string;
  username: string;
  email: string;
  email_verified: boolean;
  password_hash: string | null;
  first_name: string;
  last_name: string;
  patronymic: string;
  phone_number: string;
  gender: string;
  birth_date: string | null;
  is_active: boolean;
  ban_until: Date | null;
  ban_reason: string;
  is_staff: boolean;
  is_superuser: boolean;
  metadata: JsonObject;
  last_login_at: Date | null;
  deleted_at: Date | null;
  created_at: Date;
  updated_at: Date;
  employee_code: string;
  department: string;
  face_label: string;
  /** created_at at full precision, for keyset pagination. */
  cursor_key: string;
}

export type NewUser = Pick<UserRow, "id" | "organization_id" | "username" | "email" | "password_hash" | "first_name" | "last_name" | "patronymic" | "phone_number" | "gender" | "birth_date" | "metadata" | "is_staff" | "is_superuser" | "email_verified" | "employee_code" | "department">;

/** Columns a profile edit may change (user_profiles is written beside users). */
export const USER_COLUMNS = ["username", "email", "email_verified", "first_name", "last_name", "patronymic", "phone_number", "gender", "birth_date", "metadata", "is_active", "password_hash", "ban_until", "ban_reason", "deleted_at", "last_login_at"] as const;
export const PROFILE_COLUMNS = ["employee_code", "department"] as const;
type UserColumn = (typeof USER_COLUMNS)[number];
type ProfileColumn = (typeof PROFILE_COLUMNS)[number];

const SELECT = `SELECT u.id, u.organization_id, u.username, u.email, u.email_verified, u.password_hash, u.first_name, u.last_name,
  u.patronymic, u.phone_number, u.gender, to_char(u.birth_date, 'YYYY-MM-DD') AS birth_date, u.is_active, u.ban_until, u.ban_reason,
  u.is_staff, u.is_superuser, u.metadata, u.last_login_at, u.deleted_at, u.created_at, u.updated_at,
  p.employee_code, p.department, p.face_label::text AS face_label, u.created_at::text AS cursor_key
  FROM identity.users u JOIN identity.user_profiles p ON p.user_id = u.id`;

export interface UserFilter {
  query?: string;
  isActive?: boolean;
  department?: string;
  includeDeleted?: boolean;
  /** Restrict to these ids (e.g. members of a role, or just the caller for OWN scope). */
  ids?: string[];
  after?: { key: string; id: string };
  limit: number;
}

/** identity.users with identity.user_profiles: tenant rows, reached inside withTenant. */
export class UserStore {
  constructor(private readonly sql: Sql) {}

  async insert(tx: Transaction, user: NewUser): Promise<UserRow> {
    await this.sql.execute(tx,
      `INSERT INTO identity.users (id, organization_id, username, email, email_verified, password_hash, first_name, last_name, patronymic,
         phone_number, gender, birth_date, metadata, is_staff, is_superuser)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`,
      [user.id, user.organization_id, user.username, user.email, user.email_verified, user.password_hash, user.first_name, user.last_name,
        user.patronymic, user.phone_number, user.gender, user.birth_date || null, JSON.stringify(user.metadata), user.is_staff, user.is_superuser]);
    await this.sql.execute(tx,
      "INSERT INTO identity.user_profiles (user_id, organization_id, employee_code, department) VALUES ($1, $2, $3, $4)",
      [user.id, user.organization_id, user.employee_code, user.department]);
    return (await this.byId(tx, user.id, { includeDeleted: true }))!;
  }

  byId(tx: Transaction, id: string, { includeDeleted = false } = {}): Promise<UserRow | undefined> {
    return this.sql.row(tx, `${SELECT} WHERE u.id = $1 ${includeDeleted ? "" : "AND u.deleted_at IS NULL"}`, [id]);
  }

  /** Login lookup: email (case-insensitive) or username. */
  byLogin(tx: Transaction, login: string): Promise<UserRow | undefined> {
    const column = login.includes("@") ? "email" : "username";
    return this.sql.row(tx, `${SELECT} WHERE lower(u.${column}) = lower($1) AND u.deleted_at IS NULL`, [login]);
  }

  /**
   * A login's one read, inside withTenant(organizationId): the organisation's code and standing,
   * and the user by email or username as byLogin finds them. Undefined when the organisation
   * does not exist (any more).
   */
  async organizationAndLogin(tx: Transaction, organizationId: string, login: string): Promise<{ organization: OrganizationStanding; user: UserRow | undefined } | undefined> {
    const column = login.includes("@") ? "email" : "username";
    const row = await this.sql.row<Partial<UserRow> & { org_code: string; org_status: OrganizationStanding["status"]; org_status_reason: string }>(tx,
      `SELECT o.code AS org_code, o.status AS org_status, o.status_reason AS org_status_reason, u.*
       FROM identity.organizations o
       LEFT JOIN LATERAL (${SELECT} WHERE u.organization_id = o.id AND lower(u.${column}) = lower($2) AND u.deleted_at IS NULL) u ON true
       WHERE o.id = $1`, [organizationId, login]);
    if (!row) return undefined;
    const { org_code, org_status, org_status_reason, ...user } = row;
    return { organization: { code: org_code, status: org_status, status_reason: org_status_reason }, user: user.id ? (user as UserRow) : undefined };
  }

  list(tx: Transaction, filter: UserFilter): Promise<UserRow[]> {
    const where: string[] = [];
    const bind: unknown[] = [];
    if (!filter.includeDeleted) where.push("u.deleted_at IS NULL");
    if (filter.query) {
      const n = bind.push(`%${escapeLike(filter.query)}%`);
      where.push(`(u.email ILIKE $${n} OR u.username ILIKE $${n} OR concat_ws(' ', u.last_name, u.first_name, u.patronymic) ILIKE $${n} OR p.employee_code ILIKE $${n})`);
    }
    if (filter.isActive !== undefined) where.push(`u.is_active = $${bind.push(filter.isActive)}`);
    if (filter.department) where.push(`p.department = $${bind.push(filter.department)}`);
    if (filter.ids) where.push(`u.id = ANY($${bind.push(filter.ids)}::uuid[])`);
    if (filter.after) where.push(`(u.created_at, u.id) > ($${bind.push(filter.after.key)}::timestamptz, $${bind.push(filter.after.id)}::uuid)`);
    return this.sql.rows(tx, `${SELECT} ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY u.created_at, u.id LIMIT $${bind.push(filter.limit + 1)}`, bind);
  }

  /** A successful sign-in: last_login_at, and the password's new hash when its parameters changed. */
  async recordLogin(tx: Transaction, user: UserRow, rehash: string | undefined): Promise<UserRow> {
    const changed = await this.sql.row<Pick<UserRow, "last_login_at" | "updated_at">>(tx,
      `UPDATE identity.users SET last_login_at = now(), updated_at = now()${rehash ? ", password_hash = $2" : ""} WHERE id = $1 RETURNING last_login_at, updated_at`,
      rehash ? [user.id, rehash] : [user.id]);
    return { ...user, ...changed, ...(rehash ? { password_hash: rehash } : {}) };
  }

  async update(tx: Transaction, id: string, changes: Partial<Pick<UserRow, UserColumn | ProfileColumn>>): Promise<UserRow | undefined> {
    const entries = Object.entries(changes).filter(([, value]) => value !== undefined);
    const of = (columns: readonly string[]) => entries.filter(([column]) => columns.includes(column));
    await this.updateRow(tx, "identity.users", "id", id, of(USER_COLUMNS));
    await this.updateRow(tx, "identity.user_profiles", "user_id", id, of(PROFILE_COLUMNS));
    return this.byId(tx, id, { includeDeleted: true });
  }

  private async updateRow(tx: Transaction, table: string, key: string, id: string, entries: [string, unknown][]): Promise<void> {
    if (entries.length === 0) return;
    const bind: unknown[] = [id];
    const sets = entries.map(([column, value]) =>
      `${column} = $${bind.push(column === "metadata" ? JSON.stringify(value) : column === "birth_date" && value === "" ? null : value)}`);
    await this.sql.execute(tx, `UPDATE ${table} SET ${sets.join(", ")}, updated_at = now() WHERE ${key} = $1`, bind);
  }
}

export const fullName = (u: Pick<UserRow, "last_name" | "first_name" | "patronymic">): string =>
  [u.last_name, u.first_name, u.patronymic].filter(Boolean).join(" ");
