import { randomUUID } from "node:crypto";
import type { JsonObject } from "@bufbuild/protobuf";
import type { Gender } from "../../../gen/rollcall/identity/v1/user_pb.js";
import { alreadyExists, invalidArgument, notFound } from "../../runtime/errors.js";
import { violatedUnique } from "../../runtime/db/index.js";
import * as v from "../../runtime/validate.js";
import type { AuditRecord } from "../../runtime/audit-publisher.js";
import type { Identity } from "../context.js";
import { checkPasswordPolicy } from "../crypto/passwords.js";
import { genderName } from "./convert.js";
import type { NewUser, UserRow } from "./store.js";

export interface NewUserInput {
  username: string;
  email: string;
  password?: string;
  firstName: string;
  lastName: string;
  patronymic: string;
  phoneNumber: string;
  gender: Gender;
  birthDate: string;
  metadata?: JsonObject;
  employeeCode: string;
  department: string;
  roles: string[];
  isStaff?: boolean;
  emailVerified?: boolean;
}

const USERNAME = /^[A-Za-z0-9][A-Za-z0-9._-]{1,62}[A-Za-z0-9]$/;

export function username(field: string, value: string): string {
  const trimmed = value.trim();
  if (!USERNAME.test(trimmed)) throw invalidArgument(field, "must be 3–64 letters, digits, '.', '_' or '-', starting and ending with a letter or digit");
  if (trimmed.includes("@")) throw invalidArgument(field, "must not contain '@'");
  return trimmed;
}

export function metadata(field: string, value: JsonObject | undefined): JsonObject {
  const json = value ?? {};
  if (JSON.stringify(json).length > 16_384) throw invalidArgument(field, "must be at most 16 KiB as JSON");
  return json;
}

/** Users: registration with validation and password policy, and the role assignments it implies. */
export class Users {
  constructor(private readonly id: Identity) {}

  /** Validates everything before anything is written, so a bad field changes nothing. */
  async create(organizationId: string, input: NewUserInput, actor: AuditRecord["actor"]): Promise<UserRow> {
    const email = v.email("email", input.email);
    const name = username("username", input.username || email.split("@")[0]!.replace(/[^A-Za-z0-9._-]/g, ""));
    if (input.password !== undefined) checkPasswordPolicy(input.password, { email, username: name });
    const roles = input.roles.length > 0 ? input.roles.map((r) => v.text("roles", r, { min: 1, max: 64 })) : ["USER"];
    const user: NewUser = {
      id: randomUUID(),
      organization_id: organizationId,
      username: name,
      email,
      email_verified: input.emailVerified ?? false,
      password_hash: input.password === undefined ? null : await this.id.hasher.hash(input.password),
      first_name: v.text("first_name", input.firstName, { max: 100 }),
      last_name: v.text("last_name", input.lastName, { max: 100 }),
      patronymic: v.text("patronymic", input.patronymic, { max: 100 }),
      phone_number: v.phoneE164("phone_number", input.phoneNumber),
      gender: genderName(input.gender),
      birth_date: v.pastDate("birth_date", input.birthDate) || null,
      metadata: metadata("metadata", input.metadata),
      is_staff: input.isStaff ?? false,
      is_superuser: input.isStaff ?? false,
      employee_code: v.text("employee_code", input.employeeCode, { max: 64 }),
      department: v.text("department", input.department, { max: 200 }),
    };
    const row = await this.id.db.withTenant(organizationId, (tx) => this.id.users.insert(tx, user)).catch((err: unknown) => {
      throw uniqueUserError(err, user);
    });
    for (const role of roles) await this.id.authzLink.assignRole(organizationId, row.id, role);
    await this.id.audit.publish({ organizationId, actor, action: "user.create", entityType: "user", entityId: row.id, outcome: "SUCCESS", detail: { username: row.username, roles } });
    return row;
  }

  async get(organizationId: string, userId: string, { includeDeleted = false } = {}): Promise<UserRow> {
    const row = await this.id.db.withTenant(organizationId, (tx) => this.id.users.byId(tx, v.uuid("user_id", userId), { includeDeleted }));
    if (!row) throw notFound("user", userId);
    return row;
  }
}

/** A taken email or username, said in words the person can act on; other errors pass through. */
export function uniqueUserError(err: unknown, user: Pick<UserRow, "email" | "username">): unknown {
  const constraint = violatedUnique(err);
  if (constraint === "users_email") return alreadyExists(`a user with email ${user.email} in this organisation`);
  if (constraint === "users_username") return alreadyExists(`a user with username ${user.username} in this organisation`);
  return err;
}
