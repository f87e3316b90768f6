import { timestampDate } from "@bufbuild/protobuf/wkt";
import { UserService } from "../../../gen/rollcall/identity/v1/user_pb.js";
import type { CallContext, ServiceImpl } from "../../runtime/grpc/context.js";
import { failedPrecondition, invalidArgument, notFound, permissionDenied } from "../../runtime/errors.js";
import { pageOf, readPage } from "../../runtime/pagination.js";
import * as v from "../../runtime/validate.js";
import type { Identity } from "../context.js";
import { callerOf, isPlatform, targetOrganization } from "../../runtime/authz/callers.js";
import type { Organizations } from "../organizations/organizations.js";
import type { Sessions } from "../sessions/sessions.js";
import { genderName, toUser } from "./convert.js";
import { Users, metadata, uniqueUserError, username } from "./users.js";
import type { UserRow } from "./store.js";

/** Fields UpdateUser's mask may name, and the column each one writes. */
const UPDATABLE: Record<string, (u: UpdateSource) => [string, unknown]> = {
  username: (u) => ["username", username("user.username", u.username)],
  email: (u) => ["email", v.email("user.email", u.email)],
  first_name: (u) => ["first_name", v.text("user.first_name", u.firstName, { max: 100 })],
  last_name: (u) => ["last_name", v.text("user.last_name", u.lastName, { max: 100 })],
  patronymic: (u) => ["patronymic", v.text("user.patronymic", u.patronymic, { max: 100 })],
  phone_number: (u) => ["phone_number", v.phoneE164("user.phone_number", u.phoneNumber)],
  gender: (u) => ["gender", genderName(u.gender)],
  birth_date: (u) => ["birth_date", v.pastDate("user.birth_date", u.birthDate)],
  metadata: (u) => ["metadata", metadata("user.metadata", u.metadata)],
  is_active: (u) => ["is_active", u.isActive],
  "profile.employee_code": (u) => ["employee_code", v.text("user.profile.employee_code", u.profile?.employeeCode ?? "", { max: 64 })],
  "profile.department": (u) => ["department", v.text("user.profile.department", u.profile?.department ?? "", { max: 200 })],
};
type UpdateSource = NonNullable<Parameters<NonNullable<ServiceImpl<typeof UserService>["updateUser"]>>[0]["user"]>;

export function userHandlers(id: Identity, organizations: Organizations, users: Users, sessions: Sessions): ServiceImpl<typeof UserService> {
  /** Platform callers act anywhere; everyone else asks authz, with the user as the owner. */
  const authorize = async (ctx: CallContext, action: string, ownerId?: string) => {
    if (!isPlatform(callerOf(ctx))) await id.authz.authorize(ctx, "users", action, ownerId);
  };
  const subject = (ctx: CallContext, userId: string) => (userId ? v.uuid("user_id", userId) : callerOf(ctx).subject);

  /** Loads, changes and returns a user, ending its sessions when it may no longer sign in. */
  const change = async (ctx: CallContext, userId: string, action: string, apply: (row: UserRow) => Record<string, unknown>, endSessions?: "banned" | "deleted") => {
    const orgId = targetOrganization(ctx, "");
    const row = await id.db.withTenant(orgId, async (tx) => {
      const current = await id.users.byId(tx, userId, { includeDeleted: true });
      if (!current) throw notFound("user", userId);
      const changed = await id.users.update(tx, userId, apply(current)).catch((err: unknown) => {
        throw uniqueUserError(err, current);
      });
      if (endSessions) await sessions.revoke(tx, { userId }, endSessions);
      return changed!;
    });
    await id.audit.publish({ organizationId: orgId, actor: callerOf(ctx), action: `user.${action}`, entityType: "user", entityId: userId, outcome: "SUCCESS" });
    return { user: toUser(row, await id.authzLink.rolesOf(orgId, userId, ctx)) };
  };

  return {
    async createUser(req, ctx) {
      let orgId: string;
      if (!ctx.caller) {
        // Self-registration: only where the organisation allows it, and never with chosen roles.
        const org = await organizations.getByCode(v.text("organization_code", req.organizationCode, { min: 1, max: 64 }));
        if (org.settings.self_registration !== true) throw permissionDenied(`organisation ${org.code} does not allow self-registration; ask an administrator`);
        if (org.status !== "ACTIVE") throw failedPrecondition(`organisation ${org.code} is not active`);
        if (req.roles.length > 0) throw permissionDenied("roles cannot be chosen when registering yourself");
        orgId = org.id;
      } else {
        orgId = req.organizationCode && !req.organizationId
          ? targetOrganization(ctx, (await organizations.getByCode(req.organizationCode)).id)
          : targetOrganization(ctx, req.organizationId);
        await authorize(ctx, "create");
        if (req.roles.length > 0 && !isPlatform(callerOf(ctx))) await id.authz.authorize(ctx, "roles", "assign");
      }
      const row = await users.create(orgId, { ...req, metadata: req.metadata }, ctx.caller ?? { kind: "system", subject: "" });
      return { user: toUser(row, await id.authzLink.rolesOf(orgId, row.id, ctx)) };
    },

    async getUser(req, ctx) {
      const userId = subject(ctx, req.userId);
      await authorize(ctx, "read", userId);
      const orgId = targetOrganization(ctx, "");
      const row = await users.get(orgId, userId);
      return { user: toUser(row, await id.authzLink.rolesOf(orgId, userId, ctx)) };
    },

    async listUsers(req, ctx) {
      const caller = callerOf(ctx);
      const orgId = targetOrganization(ctx, req.organizationId);
      const scope = isPlatform(caller) ? "ALL" : await id.authz.resolveScope(ctx, "users", "read");
      if (scope === "NONE") throw permissionDenied("not allowed to read users");
      let ids = scope === "OWN" ? [caller.subject] : undefined;
      if (req.role) {
        const members = await id.authzLink.membersOf(orgId, v.text("role", req.role, { max: 64 }), ctx);
        ids = ids ? ids.filter((i) => members.includes(i)) : members;
      }
      const page = readPage(req.page);
      const rows = await id.db.withTenant(orgId, (tx) => id.users.list(tx, {
        query: v.text("query", req.query, { max: 200 }),
        isActive: req.isActive,
        department: v.text("department", req.department, { max: 200 }),
        includeDeleted: req.includeDeleted,
        ids,
        after: page.after,
        limit: page.limit,
      }));
      const { items, nextPageToken } = pageOf(rows, page.limit, (r) => ({ key: r.cursor_key, id: r.id }));
      return { users: items.map((row) => toUser(row)), page: { nextPageToken } };
    },

    async updateUser(req, ctx) {
      const userId = subject(ctx, req.userId);
      const paths = req.updateMask?.paths ?? [];
      if (paths.length === 0) throw invalidArgument("update_mask", `name the fields to change, e.g. ["first_name"]; allowed: ${Object.keys(UPDATABLE).join(", ")}`);
      const unknown = paths.filter((p) => !UPDATABLE[p]);
      if (unknown.length > 0) throw invalidArgument("update_mask", `cannot change ${unknown.join(", ")}; allowed: ${Object.keys(UPDATABLE).join(", ")}`);
      if (!req.user) throw invalidArgument("user", "is required with the new values");
      if (paths.includes("is_active") && userId === callerOf(ctx).subject) throw permissionDenied("you cannot activate or deactivate yourself");
      await authorize(ctx, "update", userId);
      const changes = Object.fromEntries(paths.map((p) => UPDATABLE[p]!(req.user!)));
      return change(ctx, userId, "update", (current) => (changes.email && String(changes.email).toLowerCase() !== current.email.toLowerCase() ? { ...changes, email_verified: false } : changes));
    },

    async banUser(req, ctx) {
      const userId = v.uuid("user_id", req.userId);
      if (userId === callerOf(ctx).subject) throw permissionDenied("you cannot ban yourself");
      await authorize(ctx, "update", userId);
      if (!req.until) return change(ctx, userId, "unban", () => ({ ban_until: null, ban_reason: "" }));
      const until = timestampDate(req.until);
      if (until.getTime() <= Date.now()) throw invalidArgument("until", "must be in the future (leave it unset to lift a ban)");
      const reason = v.text("reason", req.reason, { min: 1, max: 1000 });
      return change(ctx, userId, "ban", () => ({ ban_until: until, ban_reason: reason }), "banned");
    },

    async deleteUser(req, ctx) {
      const userId = v.uuid("user_id", req.userId);
      if (userId === callerOf(ctx).subject) throw permissionDenied("you cannot delete yourself");
      await authorize(ctx, "delete", userId);
      return change(ctx, userId, "delete", (current) => {
        if (current.deleted_at) throw failedPrecondition(`user ${userId} is already deleted`);
        return { deleted_at: new Date() };
      }, "deleted");
    },

    async restoreUser(req, ctx) {
      const userId = v.uuid("user_id", req.userId);
      await authorize(ctx, "delete", userId);
      return change(ctx, userId, "restore", (current) => {
        if (!current.deleted_at) throw failedPrecondition(`user ${userId} is not deleted`);
        return { deleted_at: null };
      });
    },
  };
}
