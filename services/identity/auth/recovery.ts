import { randomUUID } from "node:crypto";
import type { Transaction } from "sequelize";
import { failedPrecondition, notFound } from "../../runtime/errors.js";
import type { Mailer } from "../../runtime/mail/mailer.js";
import * as v from "../../runtime/validate.js";
import type { Identity } from "../context.js";
import { checkPasswordPolicy } from "../crypto/passwords.js";
import { hashToken, newOpaqueToken } from "../crypto/opaque-tokens.js";
import type { Sessions } from "../sessions/sessions.js";
import type { UserRow } from "../users/store.js";

type TokenType = "EMAIL_VERIFICATION" | "PASSWORD_RESET";

const LIFETIME_MS: Record<TokenType, number> = { EMAIL_VERIFICATION: 24 * 3_600_000, PASSWORD_RESET: 3_600_000 };
const LINK_PATH: Record<TokenType, string> = { EMAIL_VERIFICATION: "verify-email", PASSWORD_RESET: "reset-password" };
const INVALID_LINK = "this link is not valid, has expired or was already used; ask for a new one";
/** Reset mails per address per hour: enough for a person, useless for flooding an inbox. */
const RESET_MAILS_PER_HOUR = 5;

interface TokenRow {
  id: string;
  organization_id: string;
  user_id: string;
  expires_at: Date;
  used_at: Date | null;
}

/**
 * Email verification and password reset: single-use tokens, stored as SHA-256, that expire; the
 * token reaches the person only through the mail.
 */
export class Recovery {
  constructor(private readonly id: Identity, private readonly sessions: Sessions, private readonly mailer: Mailer) {}

  async requestEmailVerification(organizationId: string, userId: string): Promise<Date> {
    const user = await this.id.db.withTenant(organizationId, (tx) => this.id.users.byId(tx, userId));
    if (!user) throw notFound("user", userId);
    if (user.email_verified) throw failedPrecondition(`${user.email} is already verified`);
    return this.send(user, "EMAIL_VERIFICATION", "Confirm your email address",
      (link) => `Hello ${user.first_name || user.username},\n\nconfirm your email address for Rollcall by opening:\n${link}\n\nThe link works once, for 24 hours.`);
  }

  async confirmEmail(token: string): Promise<string> {
    const row = await this.consume(token, "EMAIL_VERIFICATION", async (tx, t) => {
      await this.id.users.update(tx, t.user_id, { email_verified: true });
    });
    await this.id.audit.publish({ organizationId: row.organization_id, actor: { kind: "user", subject: row.user_id }, action: "user.email_verified", entityType: "user", entityId: row.user_id, outcome: "SUCCESS" });
    return row.user_id;
  }

  /** Always answers the same way, so nobody learns whether an address has an account. */
  async requestPasswordReset(organizationCode: string, email: string): Promise<void> {
    const code = v.text("organization_code", organizationCode, { min: 1, max: 64 });
    const address = v.email("email", email);
    const org = await this.id.db.withSystem((tx) => this.id.organizations.byCode(tx, code));
    if (!org || org.status !== "ACTIVE") return;
    const user = await this.id.db.withTenant(org.id, (tx) => this.id.users.byLogin(tx, address));
    if (!user || !user.is_active) return;
    const sent = await this.id.cache.incr(`reset:mail:${org.id}:${user.id}`, 3_600_000);
    if (sent > RESET_MAILS_PER_HOUR) return;
    await this.send(user, "PASSWORD_RESET", "Reset your password",
      (link) => `Hello ${user.first_name || user.username},\n\nsomeone asked to reset your Rollcall password. If it was you, open:\n${link}\n\nThe link works once, for one hour. If it was not you, ignore this mail.`);
  }

  async resetPassword(token: string, newPassword: string): Promise<void> {
    let user: UserRow | undefined;
    const row = await this.consume(token, "PASSWORD_RESET", async (tx, t) => {
      user = await this.id.users.byId(tx, t.user_id);
      if (!user) throw failedPrecondition(INVALID_LINK);
      checkPasswordPolicy(newPassword, user, "new_password");
      await this.id.users.update(tx, t.user_id, { password_hash: await this.id.hasher.hash(newPassword) });
      await this.sessions.revoke(tx, { userId: t.user_id }, "password_changed");
    });
    await this.id.audit.publish({ organizationId: row.organization_id, actor: { kind: "user", subject: row.user_id }, action: "auth.password_reset", entityType: "user", entityId: row.user_id, outcome: "SUCCESS" });
  }

  private async send(user: UserRow, type: TokenType, subject: string, body: (link: string) => string): Promise<Date> {
    const token = newOpaqueToken();
    const expiresAt = new Date(Date.now() + LIFETIME_MS[type]);
    await this.id.db.withTenant(user.organization_id, (tx) => this.id.sql.execute(tx,
      "INSERT INTO identity.verification_tokens (id, organization_id, user_id, type, token_hash, expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
      [randomUUID(), user.organization_id, user.id, type, hashToken(token), expiresAt]));
    const link = `${this.id.config.identity.publicUrl.replace(/\/$/, "")}/${LINK_PATH[type]}?token=${token}`;
    await this.mailer.send({ to: user.email, subject: `Rollcall: ${subject.toLowerCase()}`, text: body(link) });
    return expiresAt;
  }

  /** Marks a token used, in the same transaction as what it was used for. */
  private async consume(token: string, type: TokenType, use: (tx: Transaction, row: TokenRow) => Promise<void>): Promise<TokenRow> {
    if (!token || token.length > 100) throw failedPrecondition(INVALID_LINK);
    return this.id.db.withSystem(async (tx) => {
      const row = await this.id.sql.row<TokenRow>(tx,
        "SELECT id, organization_id, user_id, expires_at, used_at FROM identity.verification_tokens WHERE token_hash = $1 AND type = $2 FOR UPDATE",
        [hashToken(token), type]);
      if (!row || row.used_at || new Date(row.expires_at).getTime() <= Date.now()) throw failedPrecondition(INVALID_LINK);
      await this.id.sql.execute(tx, "UPDATE identity.verification_tokens SET used_at = now() WHERE id = $1", [row.id]);
      await use(tx, row);
      return row;
    });
  }
}
