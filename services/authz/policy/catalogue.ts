import { createHash } from "node:crypto";

/**
 * The built-in part of every organisation's policy: the resources the mesh's services protect,
 * their actions, and what the system roles ADMIN, OPERATOR and USER may do when an organisation
 * is seeded. Services name these in `authorize(ctx, resource, action)`; anything not listed
 * here (or added by the organisation) is an INVALID_ARGUMENT, not a silent deny.
 *
 * Every built-in resource has read, create, update and delete; a few have extra verbs.
 */
export type ScopeName = "OWN" | "ALL";

export interface BuiltInResource {
  name: string;
  description: string;
  /** Objects of the resource belong to a user, so OWN grants mean something. */
  hasOwner: boolean;
  /** Beyond read/create/update/delete. */
  extraActions?: readonly string[];
}

export const CRUD = ["read", "create", "update", "delete"] as const;

export const BUILT_IN_RESOURCES: readonly BuiltInResource[] = [
  { name: "organizations", description: "The organisation itself (settings, status)", hasOwner: false },
  { name: "users", description: "People of the organisation; a user owns their own record", hasOwner: true },
  { name: "roles", description: "Roles, grants and the policy catalogue; assign gives roles to users", hasOwner: false, extraActions: ["assign"] },
  { name: "devices", description: "Camera agents", hasOwner: false },
  { name: "faces", description: "Enrolled face images and embeddings; owned by the person", hasOwner: true },
  { name: "attendance", description: "IN/OUT events and daily records; owned by the person", hasOwner: true, extraActions: ["export"] },
  { name: "audit_logs", description: "The audit trail; an entry is owned by its actor", hasOwner: true, extraActions: ["export"] },
  { name: "events", description: "Platform events (unknown faces, devices down) and notification rules", hasOwner: false },
  { name: "configs", description: "Organisation configuration", hasOwner: false },
];

export const SYSTEM_ROLES = ["ADMIN", "OPERATOR", "USER"] as const;
export type SystemRole = (typeof SYSTEM_ROLES)[number];

export const SYSTEM_ROLE_DESCRIPTIONS: Record<SystemRole, string> = {
  ADMIN: "Manages the organisation: users, devices, roles and settings",
  OPERATOR: "Runs day-to-day attendance: sees everyone's records, enrols faces, corrects records",
  USER: "Sees and updates their own data",
};

/** [resource, action, scope] */
export type DefaultGrant = readonly [string, string, ScopeName];

const all = (resource: string, ...actions: string[]): DefaultGrant[] => actions.map((a) => [resource, a, "ALL"] as const);
const own = (resource: string, ...actions: string[]): DefaultGrant[] => actions.map((a) => [resource, a, "OWN"] as const);

export const DEFAULT_GRANTS: Record<SystemRole, readonly DefaultGrant[]> = {
  // Everything in the organisation except creating organisations, which is for platform operators.
  ADMIN: BUILT_IN_RESOURCES.flatMap((r) =>
    actionsOf(r).filter((a) => !(r.name === "organizations" && a === "create")).map((a): DefaultGrant => [r.name, a, "ALL"]),
  ),
  OPERATOR: [
    ...all("organizations", "read"),
    ...all("users", "read"),
    ...all("devices", "read", "update"),
    ...all("faces", "read", "create", "delete"),
    ...all("attendance", "read", "create", "update", "export"),
    ...all("events", "read", "update"),
    ...all("configs", "read"),
    ...own("audit_logs", "read"),
  ],
  USER: [
    ...all("organizations", "read"),
    ...own("users", "read", "update"),
    ...own("faces", "read"),
    ...own("attendance", "read"),
    ...own("audit_logs", "read"),
  ],
};

export function actionsOf(resource: BuiltInResource): string[] {
  return [...CRUD, ...(resource.extraActions ?? [])];
}

/**
 * Built-in rows have the same ids in every deployment (name-based UUIDs, RFC 4122 version 5
 * layout over SHA-1), so a permission id seen in one environment means the same in another.
 */
export function builtInId(kind: "resource" | "permission", name: string): string {
  const bytes = createHash("sha1").update(`rollcall.authz/${kind}/${name}`).digest().subarray(0, 16);
  bytes[6] = (bytes[6]! & 0x0f) | 0x50;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  const hex = bytes.toString("hex");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

export interface BuiltInPermission {
  id: string;
  resourceId: string;
  resource: string;
  action: string;
  name: string;
}

export function builtInPermissions(): BuiltInPermission[] {
  return BUILT_IN_RESOURCES.flatMap((r) =>
    actionsOf(r).map((action) => ({
      id: builtInId("permission", `${r.name}.${action}`),
      resourceId: builtInId("resource", r.name),
      resource: r.name,
      action,
      name: `${r.name}.${action}`,
    })),
  );
}
