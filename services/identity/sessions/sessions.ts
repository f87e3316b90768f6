import { randomUUID } from "node:crypto";
import type { Transaction } from "sequelize";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { AuthTokensSchema } from "../../../gen/rollcall/identity/v1/auth_pb.js";
import { unauthenticated } from "../../runtime/errors.js";
import { revocationKeys } from "../../runtime/auth/revocation.js";
import { Severity } from "../../runtime/event-publisher.js";
import type { Identity } from "../context.js";
import { hashToken, newOpaqueToken } from "../crypto/opaque-tokens.js";
import type { UserRow } from "../users/store.js";
import { refusalToSignIn } from "../users/standing.js";
import type { RevokedReason, RotatedSession, SessionRow, SessionStore } from "./store.js";

export interface ClientInfo {
  deviceId: string;
  userAgent: string;
  ip: string;
}

type Tokens = MessageInitShape<typeof AuthTokensSchema>;

type RefreshOutcome = { error: string } | { reuse: SessionRow } | { opened: OpenedSession<SessionUser> };

/** What a session is opened for: enough of the user to sign their access token. */
export type SessionUser = Pick<UserRow, "id" | "organization_id" | "is_staff">;

/**
 * A session row written in a transaction whose access token is signed after commit: signing needs
 * the user's roles from authz, and no other service may be called while a transaction is open
 * (in embedded mode the database has one backend, and authz would wait for it forever).
 */
export interface OpenedSession<U extends SessionUser = UserRow> {
  user: U;
  familyId: string;
  jti: string;
  refreshToken: string;
  refreshExpiresAt: Date;
}

/**
 * Sessions and their tokens: a short JWT access token, and an opaque refresh token stored only
 * as its SHA-256 and rotated on every use. Presenting a refresh token that was already rotated
 * means it was copied: the whole family is revoked.
 */
export class Sessions {
  constructor(private readonly id: Identity, private readonly store: SessionStore) {}

  /** Opens a session for a user who has just proven who they are. One session per device. */
  async open<U extends SessionUser>(tx: Transaction, user: U, client: ClientInfo): Promise<OpenedSession<U>> {
    if (client.deviceId) await this.revoke(tx, { userId: user.id, deviceId: client.deviceId }, "replaced");
    return this.issue(tx, user, client, randomUUID());
  }

  /** Rotates a refresh token: the old one stops working, a new pair is returned. */
  async refresh(refreshToken: string, client: Pick<ClientInfo, "ip" | "userAgent">): Promise<Tokens> {
    if (!refreshToken) throw unauthenticated("refresh_token is required");
    const hash = hashToken(refreshToken);
    const next = this.newTokens();
    // The usual case, a live token, is one statement in one round trip: rotate it, insert its
    // successor, and read the account's standing. A refresh is mostly that round trip.
    const rotated = await this.store.rotate(this.id.db, hash, {
      id: randomUUID(), user_agent: client.userAgent.slice(0, 512), ip_address: client.ip || null,
      refresh_token_hash: next.refreshTokenHash, access_jti: next.jti, refresh_expires_at: next.refreshExpiresAt,
    });
    const outcome: RefreshOutcome = rotated
      ? await this.admitted(rotated, next)
      : await this.id.db.withSystem((tx) => this.refusedRefresh(tx, hash));
    if ("reuse" in outcome) {
      const row = outcome.reuse;
      await this.id.audit.publish({ organizationId: row.organization_id, actor: { kind: "user", subject: row.user_id }, action: "auth.refresh_token_reuse", entityType: "session", entityId: row.family_id, outcome: "DENIED", ip: client.ip, userAgent: client.userAgent });
      await this.id.events.publish({ organizationId: row.organization_id, type: "TOKEN_REUSE", severity: Severity.CRITICAL, referenceId: row.family_id, metadata: { userId: row.user_id, ip: client.ip } });
      throw unauthenticated("refresh token was already used: the session has been revoked for safety; log in again");
    }
    if ("error" in outcome) throw unauthenticated(outcome.error);
    return this.tokensFor(outcome.opened);
  }

  /**
   * A rotated session whose account may no longer sign in is revoked, successor included (it is a
   * live row of the family). That takes a second transaction: until it commits, the successor is
   * live, but its refresh token was never handed out.
   */
  private async admitted({ session: row, account, organization }: RotatedSession, next: ReturnType<Sessions["newTokens"]>): Promise<RefreshOutcome> {
    const refusal = account && refusalToSignIn(account, organization);
    if (!account || refusal) {
      await this.id.db.withSystem((tx) => this.revoke(tx, { familyIds: [row.family_id] }, "revoked"));
      return { error: refusal ?? "the account no longer exists" };
    }
    return { opened: { user: account, familyId: row.family_id, jti: next.jti, refreshToken: next.refreshToken, refreshExpiresAt: next.refreshExpiresAt } };
  }

  /** Why a refresh token that did not rotate is refused; presenting a rotated one revokes its family. */
  private async refusedRefresh(tx: Transaction, hash: string): Promise<RefreshOutcome> {
    const row = await this.store.byRefreshHashForUpdate(tx, hash);
    if (!row) return { error: "refresh token is not valid; log in again" };
    if (row.revoked_at) {
      if (row.revoked_reason !== "rotated") return { error: "session was revoked; log in again" };
      await this.revoke(tx, { familyIds: [row.family_id] }, "reuse_detected");
      return { reuse: row };
    }
    return { error: "refresh token has expired; log in again" };
  }

  /**
   * Revokes sessions in the database and in the cache every interceptor checks, so their access
   * tokens stop working at once instead of at expiry. Returns how many sessions were live.
   */
  async revoke(tx: Transaction, where: Parameters<SessionStore["revokeFamilies"]>[1], reason: RevokedReason): Promise<number> {
    const families = await this.store.revokeFamilies(tx, where, reason);
    const ttlMs = this.id.config.identity.accessTokenTtlSec * 1000 + 60_000;
    // After commit, so a rolled-back revocation never blocks a live session.
    tx.afterCommit(async () => {
      for (const family of families) await this.id.cache.set(revocationKeys.session(family), reason, ttlMs);
    });
    return families.length;
  }

  latest(tx: Transaction, userId: string, includeRevoked: boolean): Promise<SessionRow[]> {
    return this.store.latestPerFamily(tx, userId, includeRevoked);
  }

  familyOwner(tx: Transaction, familyId: string) {
    return this.store.familyOwner(tx, familyId);
  }

  /** Signs the access token of a committed session. */
  async tokensFor(opened: OpenedSession<SessionUser>): Promise<Tokens> {
    const { user } = opened;
    const roles = await this.id.authzLink.rolesOf(user.organization_id, user.id);
    const access = await this.id.tokens.forUser({ id: user.id, organizationId: user.organization_id, roles, staff: user.is_staff }, opened.familyId, opened.jti);
    return {
      accessToken: access.token,
      accessExpiresAt: timestampFromDate(access.expiresAt),
      refreshToken: opened.refreshToken,
      refreshExpiresAt: timestampFromDate(opened.refreshExpiresAt),
      sessionId: opened.familyId,
    };
  }

  private async issue<U extends SessionUser>(tx: Transaction, user: U, client: ClientInfo, familyId: string): Promise<OpenedSession<U>> {
    const { jti, refreshToken, refreshTokenHash, refreshExpiresAt } = this.newTokens();
    await this.store.insert(tx, {
      id: randomUUID(),
      organization_id: user.organization_id,
      user_id: user.id,
      device_id: client.deviceId.slice(0, 200),
      user_agent: client.userAgent.slice(0, 512),
      ip_address: client.ip || null,
      family_id: familyId,
      refresh_token_hash: refreshTokenHash,
      access_jti: jti,
      refresh_expires_at: refreshExpiresAt,
    });
    return { user, familyId, jti, refreshToken, refreshExpiresAt };
  }

  /** A new session row's secrets: its access token's id and its refresh token (stored as a hash). */
  private newTokens() {
    const refreshToken = newOpaqueToken();
    return {
      jti: randomUUID(),
      refreshToken,
      refreshTokenHash: hashToken(refreshToken),
      refreshExpiresAt: new Date(Date.now() + this.id.config.identity.refreshTokenTtlSec * 1000),
    };
  }
}
