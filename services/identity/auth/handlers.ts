import { createHash, timingSafeEqual } from "node:crypto";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { AuthService } from "../../../gen/rollcall/identity/v1/auth_pb.js";
import type { CallContext, ServiceImpl } from "../../runtime/grpc/context.js";
import { invalidArgument, notFound, permissionDenied, unauthenticated } from "../../runtime/errors.js";
import { SERVICE_NAMES, type ServiceName } from "../../runtime/config.js";
import * as v from "../../runtime/validate.js";
import type { Identity } from "../context.js";
import { callerOf, isPlatform, targetOrganization } from "../../runtime/authz/callers.js";
import { checkPasswordPolicy } from "../crypto/passwords.js";
import type { Sessions } from "../sessions/sessions.js";
import type { SessionRow } from "../sessions/store.js";
import { toUser } from "../users/convert.js";
import type { PasswordLogin } from "./login.js";
import type { Recovery } from "./recovery.js";

const ts = (d: Date | null) => (d ? timestampFromDate(new Date(d)) : undefined);

function toSession(row: SessionRow, currentFamily: string | undefined) {
  return {
    id: row.family_id,
    organizationId: row.organization_id,
    userId: row.user_id,
    deviceId: row.device_id,
    userAgent: row.user_agent,
    ipAddress: row.ip_address ?? "",
    familyId: row.family_id,
    createdAt: ts(row.created_at),
    lastUsedAt: ts(row.last_used_at),
    refreshExpiresAt: ts(row.refresh_expires_at),
    revokedAt: ts(row.revoked_at),
    revokedReason: row.revoked_reason ?? "",
    current: row.family_id === currentFamily,
  };
}

/** Compared as hashes: equal length for timingSafeEqual, no early exit on the first difference. */
function sameSecret(given: string, expected: string): boolean {
  const digest = (value: string) => createHash("sha256").update(value).digest();
  return timingSafeEqual(digest(given), digest(expected));
}

/** Login, token refresh, sessions, keys, and the flows by mail (recovery.ts). */
export function authHandlers(id: Identity, passwordLogin: PasswordLogin, sessions: Sessions, recovery: Recovery): ServiceImpl<typeof AuthService> {
  /** Acting on another user's sessions needs users:update on that user. */
  const mayManage = async (ctx: CallContext, userId: string) => {
    const caller = callerOf(ctx);
    if (userId !== caller.subject && !isPlatform(caller)) await id.authz.authorize(ctx, "users", "update", userId);
  };

  return {
    async login(req, ctx) {
      const client = ctx.client;
      const { tokens, user } = await passwordLogin.login(req, { deviceId: req.deviceId, userAgent: req.userAgent || client.userAgent, ip: client.ip });
      return { tokens, user: toUser(user, await id.authzLink.rolesOf(user.organization_id, user.id, ctx)) };
    },

    async refresh(req, ctx) {
      const client = ctx.client;
      return { tokens: await sessions.refresh(req.refreshToken, client) };
    },

    async issueServiceToken(req) {
      const name = v.text("service_name", req.serviceName, { min: 1, max: 64 });
      if (!SERVICE_NAMES.includes(name as ServiceName)) throw invalidArgument("service_name", `must be one of ${SERVICE_NAMES.join(", ")}`);
      if (!sameSecret(req.secret, id.config.serviceSecret)) throw unauthenticated("wrong service secret");
      const issued = await id.tokens.issueForService(name);
      return { accessToken: issued.token, expiresAt: timestampFromDate(issued.expiresAt) };
    },

    async logout(_req, ctx) {
      const caller = callerOf(ctx);
      if (!caller.sessionId || !caller.organizationId) throw unauthenticated("this token belongs to no session");
      await id.db.withTenant(caller.organizationId, (tx) => sessions.revoke(tx, { familyIds: [caller.sessionId!] }, "logout"));
      await id.audit.publish({ organizationId: caller.organizationId, actor: caller, action: "auth.logout", entityType: "session", entityId: caller.sessionId, outcome: "SUCCESS", ...ctx.client });
      return {};
    },

    async revokeSession(req, ctx) {
      const familyId = v.uuid("session_id", req.sessionId);
      const orgId = targetOrganization(ctx, "");
      const owner = await id.db.withTenant(orgId, (tx) => sessions.familyOwner(tx, familyId));
      if (!owner) throw notFound("session", familyId);
      await mayManage(ctx, owner.user_id);
      const rows = await id.db.withTenant(orgId, async (tx) => {
        await sessions.revoke(tx, { familyIds: [familyId] }, "revoked");
        return sessions.latest(tx, owner.user_id, true);
      });
      await id.audit.publish({ organizationId: orgId, actor: callerOf(ctx), action: "session.revoke", entityType: "session", entityId: familyId, outcome: "SUCCESS", detail: { reason: v.text("reason", req.reason, { max: 500 }) } });
      return { session: toSession(rows.find((r) => r.family_id === familyId)!, callerOf(ctx).sessionId) };
    },

    async revokeAllSessions(req, ctx) {
      const caller = callerOf(ctx);
      const userId = req.userId ? v.uuid("user_id", req.userId) : caller.subject;
      await mayManage(ctx, userId);
      const orgId = targetOrganization(ctx, "");
      const keep = req.keepCurrent && userId === caller.subject ? caller.sessionId : undefined;
      const revokedCount = await id.db.withTenant(orgId, (tx) => sessions.revoke(tx, { userId, exceptFamily: keep }, "revoked"));
      await id.audit.publish({ organizationId: orgId, actor: caller, action: "session.revoke_all", entityType: "user", entityId: userId, outcome: "SUCCESS", detail: { revokedCount } });
      return { revokedCount };
    },

    async listSessions(req, ctx) {
      const caller = callerOf(ctx);
      const userId = req.userId ? v.uuid("user_id", req.userId) : caller.subject;
      if (userId !== caller.subject && !isPlatform(caller)) await id.authz.authorize(ctx, "users", "read", userId);
      const rows = await id.db.withTenant(targetOrganization(ctx, ""), (tx) => sessions.latest(tx, userId, req.includeRevoked));
      return { sessions: rows.map((r) => toSession(r, caller.sessionId)), page: { nextPageToken: "" } };
    },

    async getJwks() {
      return { jwksJson: JSON.stringify(id.keys.jwks()) };
    },

    async requestEmailVerification(req, ctx) {
      const caller = callerOf(ctx);
      const userId = req.userId ? v.uuid("user_id", req.userId) : caller.subject;
      await mayManage(ctx, userId);
      return { expiresAt: timestampFromDate(await recovery.requestEmailVerification(targetOrganization(ctx, ""), userId)) };
    },

    async confirmEmail(req) {
      return { userId: await recovery.confirmEmail(req.token) };
    },

    async requestPasswordReset(req) {
      await recovery.requestPasswordReset(req.organizationCode, req.email);
      return {};
    },

    async resetPassword(req) {
      await recovery.resetPassword(req.token, req.newPassword);
      return {};
    },

    async changePassword(req, ctx) {
      const caller = callerOf(ctx);
      if (caller.kind !== "user" || !caller.organizationId) throw permissionDenied("only users have passwords");
      const orgId = caller.organizationId;
      const user = await id.db.withTenant(orgId, (tx) => id.users.byId(tx, caller.subject));
      if (!user) throw notFound("user", caller.subject);
      const verdict = user.password_hash ? await id.hasher.verify(user.password_hash, req.oldPassword) : { ok: false };
      if (!verdict.ok) throw unauthenticated("old_password is not correct");
      checkPasswordPolicy(req.newPassword, user, "new_password");
      const hash = await id.hasher.hash(req.newPassword);
      await id.db.withTenant(orgId, async (tx) => {
        await id.users.update(tx, user.id, { password_hash: hash });
        if (req.revokeOtherSessions) await sessions.revoke(tx, { userId: user.id, exceptFamily: caller.sessionId }, "password_changed");
      });
      await id.audit.publish({ organizationId: orgId, actor: caller, action: "auth.password_change", entityType: "user", entityId: user.id, outcome: "SUCCESS", ...ctx.client });
      return {};
    },
  };
}
