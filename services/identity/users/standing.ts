import type { OrganizationStanding, UserRow } from "./store.js";

/**
 * Why this user may not sign in or keep a session now, or undefined. Said only after the
 * password was proven, so strangers learn nothing about accounts.
 */
export function refusalToSignIn(user: Pick<UserRow, "deleted_at" | "is_active" | "ban_until">, org: OrganizationStanding | undefined, now = new Date()): string | undefined {
  if (user.deleted_at) return "this account was deleted";
  if (!user.is_active) return "this account is deactivated; ask your administrator";
  if (user.ban_until && new Date(user.ban_until) > now) return `this account is banned until ${new Date(user.ban_until).toISOString()}`;
  if (!org) return "the organisation no longer exists";
  if (org.status === "PENDING") return `organisation ${org.code} is not verified yet`;
  if (org.status === "SUSPENDED") return `organisation ${org.code} is suspended${org.status_reason ? `: ${org.status_reason}` : ""}`;
  if (org.status === "PENDING_DEACTIVATION") return `organisation ${org.code} is being deleted`;
  return undefined;
}
