import { AuthzAdminService } from "../gen/rollcall/authz/v1/admin_pb.js";
import { DeviceService } from "../gen/rollcall/identity/v1/device_pb.js";
import { OrganizationService } from "../gen/rollcall/identity/v1/organization_pb.js";
import { UserService, type User } from "../gen/rollcall/identity/v1/user_pb.js";
import { notFound } from "../services/runtime/errors.js";
import type { Connection } from "./connection.js";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export const isUuid = (value: string) => UUID.test(value);

/** Every item of a paginated List call, page after page. */
export async function listAll<T>(fetch: (pageToken: string) => Promise<{ items: T[]; next: string }>): Promise<T[]> {
  const all: T[] = [];
  let token = "";
  do {
    const page = await fetch(token);
    all.push(...page.items);
    token = page.next;
  } while (token);
  return all;
}

/** A user named by UUID, username or email, in the caller's organisation (or `organizationId`). */
export async function findUser(conn: Connection, ref: string, organizationId = ""): Promise<User> {
  const users = conn.client(UserService);
  if (isUuid(ref)) return (await users.getUser({ userId: ref })).user!;
  const wanted = ref.toLowerCase();
  const matches = await listAll(async (pageToken) => {
    const page = await users.listUsers({ organizationId, query: ref, page: { pageSize: 500, pageToken } });
    return { items: page.users, next: page.page?.nextPageToken ?? "" };
  });
  const user = matches.find((u) => u.username.toLowerCase() === wanted || u.email.toLowerCase() === wanted);
  if (!user) throw notFound("user", `"${ref}"`);
  return user;
}

/** An organisation named by UUID or code. */
export async function findOrganization(conn: Connection, ref: string) {
  const request = isUuid(ref) ? { organizationId: ref } : { code: ref.toLowerCase() };
  return (await conn.client(OrganizationService).getOrganization(request)).organization!;
}

/** A role named by UUID or name (case-insensitive) in the caller's organisation. */
export async function findRole(conn: Connection, ref: string, organizationId = "") {
  const admin = conn.client(AuthzAdminService);
  if (isUuid(ref)) return (await admin.getRole({ roleId: ref })).role!;
  const roles = await listAll(async (pageToken) => {
    const page = await admin.listRoles({ organizationId, page: { pageSize: 500, pageToken } });
    return { items: page.roles, next: page.page?.nextPageToken ?? "" };
  });
  const role = roles.find((r) => r.name.toLowerCase() === ref.toLowerCase());
  if (!role) throw notFound("role", `"${ref}"`);
  return role;
}

/** A permission named "<resource>.<action>" (or by UUID). */
export async function findPermission(conn: Connection, ref: string, organizationId = "") {
  const { permissions } = await conn.client(AuthzAdminService).listPermissions({ organizationId });
  const permission = isUuid(ref)
    ? permissions.find((p) => p.id === ref.toLowerCase())
    : permissions.find((p) => `${p.resource}.${p.action}` === ref.toLowerCase() || p.name.toLowerCase() === ref.toLowerCase());
  if (!permission) throw notFound("permission", `"${ref}" (name it <resource>.<action>, e.g. users.read)`);
  return permission;
}

/** A camera device named by UUID or name. */
export async function findDevice(conn: Connection, ref: string) {
  const devices = conn.client(DeviceService);
  if (isUuid(ref)) return (await devices.getDevice({ deviceId: ref })).device!;
  const all = await listAll(async (pageToken) => {
    const page = await devices.listDevices({ page: { pageSize: 500, pageToken } });
    return { items: page.devices, next: page.page?.nextPageToken ?? "" };
  });
  const device = all.find((d) => d.name.toLowerCase() === ref.toLowerCase());
  if (!device) throw notFound("device", `"${ref}"`);
  return device;
}
