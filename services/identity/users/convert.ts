import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { Gender, type UserSchema } from "../../../gen/rollcall/identity/v1/user_pb.js";
import { fullName, type UserRow } from "./store.js";

export const GENDERS: Record<string, Gender> = { "": Gender.UNSPECIFIED, MALE: Gender.MALE, FEMALE: Gender.FEMALE, OTHER: Gender.OTHER };
export const genderName = (g: Gender): string => Object.entries(GENDERS).find(([, v]) => v === g)?.[0] ?? "";

const ts = (d: Date | null) => (d ? timestampFromDate(new Date(d)) : undefined);

/** A user as the API shows it: never the password hash. */
export function toUser(row: UserRow, roles: string[] = []): MessageInitShape<typeof UserSchema> {
  return {
    id: row.id,
    organizationId: row.organization_id,
    username: row.username,
    email: row.email,
    emailVerified: row.email_verified,
    firstName: row.first_name,
    lastName: row.last_name,
    patronymic: row.patronymic,
    fullName: fullName(row),
    phoneNumber: row.phone_number,
    gender: GENDERS[row.gender] ?? Gender.UNSPECIFIED,
    birthDate: row.birth_date ?? "",
    isActive: row.is_active,
    banUntil: ts(row.ban_until),
    isStaff: row.is_staff,
    isSuperuser: row.is_superuser,
    metadata: row.metadata,
    lastLoginAt: ts(row.last_login_at),
    deletedAt: ts(row.deleted_at),
    createdAt: ts(row.created_at),
    updatedAt: ts(row.updated_at),
    profile: { employeeCode: row.employee_code, department: row.department, faceLabel: BigInt(row.face_label) },
    roles,
    hasPassword: row.password_hash !== null,
  };
}
