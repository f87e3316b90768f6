import { randomBytes, randomUUID } from "node:crypto";
import type { Transaction } from "sequelize";
import { status } from "@grpc/grpc-js";
import { Gender } from "../../../gen/rollcall/identity/v1/user_pb.js";
import { AppError, failedPrecondition, permissionDenied, unavailable } from "../../runtime/errors.js";
import { violatedUnique } from "../../runtime/db/index.js";
import * as v from "../../runtime/validate.js";
import type { Identity } from "../context.js";
import { hashToken } from "../crypto/opaque-tokens.js";
import type { OrganizationRow } from "../organizations/store.js";
import type { UserRow } from "../users/store.js";
import type { Users } from "../users/users.js";
import type { ProviderConfig } from "./provider-settings.js";
import { ACCOUNT_ALREADY_LINKED, type OAuthStore } from "./store.js";
import type { ExternalIdentity } from "./userinfo.js";

export interface LinkedUser {
  user: UserRow;
  accountId: string;
  /** How the user was found: an existing link, a verified email, or created just now. */
  how: "linked" | "email" | "created";
}

const FIRST_LOGIN_LOCK_MS = 30_000;

/**
 * Finds the Rollcall user behind an external identity, in this order: the account already
 * linked to (provider, subject); else the organisation's user with the same email, but only when
 * the provider verified that email (an unverified one would let anyone claim an account); else a
 * new user, when the provider allows auto-creation.
 */
export class AccountLinker {
  constructor(private readonly id: Identity, private readonly users: Users, private readonly store: OAuthStore) {}

  async resolve(org: OrganizationRow, provider: ProviderConfig, who: ExternalIdentity): Promise<LinkedUser> {
    const email = usableEmail(who.email);
    const existing = await this.existing(org, provider, who, email);
    if (existing) return existing;
    if (!provider.autoCreateUsers) {
      throw permissionDenied(`no account in organisation ${org.code} is linked to this ${provider.name} identity, and accounts are not created on first login; ask your administrator`);
    }
    if (!email) {
      throw failedPrecondition(`${provider.name} did not share a valid email address, which a new account needs; the provider must release the "email" scope`);
    }
    // Two first logins of one person at once would create two users; one waits for the other.
    const lock = `oauth:first-login:${provider.id}:${hashToken(who.subject)}`;
    if (!(await this.id.cache.setIfAbsent(lock, "1", FIRST_LOGIN_LOCK_MS))) {
      throw unavailable("another first login of this account is in progress; try again in a moment");
    }
    try {
      return (await this.existing(org, provider, who, email)) ?? (await this.create(org, provider, who, email));
    } finally {
      await this.id.cache.del(lock);
    }
  }

  private async existing(org: OrganizationRow, provider: ProviderConfig, who: ExternalIdentity, email: string | undefined): Promise<LinkedUser | undefined> {
    try {
      return await this.id.db.withTenant(org.id, async (tx) => {
        const account = await this.store.accountOf(tx, provider.id, who.subject);
        if (account) {
          // Deleted users keep their link; refusalToSignIn turns them away with the reason.
          const user = await this.id.users.byId(tx, account.user_id, { includeDeleted: true });
          return user && { user, accountId: account.id, how: "linked" as const };
        }
        const sameEmail = email ? await this.id.users.byLogin(tx, email) : undefined;
        if (!sameEmail) return undefined;
        if (!who.emailVerified) {
          throw failedPrecondition(`an account with the email ${email} already exists in organisation ${org.code}, but ${provider.name} has not verified that address, so it cannot be linked; sign in with your password, or verify the address at ${provider.name} first`);
        }
        return { user: sameEmail, accountId: await this.link(tx, org.id, provider.id, who.subject, sameEmail.id), how: "email" as const };
      });
    } catch (err) {
      // A concurrent login linked the same identity first: that link is the answer.
      if (violatedUnique(err) === ACCOUNT_ALREADY_LINKED) return this.existing(org, provider, who, email);
      throw err;
    }
  }

  private async create(org: OrganizationRow, provider: ProviderConfig, who: ExternalIdentity, email: string): Promise<LinkedUser> {
    for (let attempt = 0; ; attempt++) {
      const username = await this.freeUsername(org.id, who, email, attempt > 0);
      let user: UserRow;
      try {
        user = await this.users.create(org.id, {
          username,
          email,
          emailVerified: who.emailVerified,
          firstName: (who.givenName ?? "").slice(0, 100),
          lastName: (who.familyName ?? "").slice(0, 100),
          patronymic: "",
          phoneNumber: "",
          gender: Gender.UNSPECIFIED,
          birthDate: "",
          employeeCode: "",
          department: "",
          roles: [],
        }, { kind: "system", subject: "" });
      } catch (err) {
        // The username was taken between the check and the insert: once more with a random suffix.
        if (err instanceof AppError && err.code === status.ALREADY_EXISTS && err.message.includes("username") && attempt === 0) continue;
        throw err;
      }
      const accountId = await this.id.db.withTenant(org.id, (tx) => this.link(tx, org.id, provider.id, who.subject, user.id));
      return { user, accountId, how: "created" };
    }
  }

  private async link(tx: Transaction, organizationId: string, providerId: string, subject: string, userId: string): Promise<string> {
    const account = await this.store.insertAccount(tx, { id: randomUUID(), organization_id: organizationId, user_id: userId, provider_id: providerId, provider_user_id: subject });
    return account.id;
  }

  /** A username from the provider's preferred username or the email's local part, made unique. */
  private async freeUsername(organizationId: string, who: ExternalIdentity, email: string, randomSuffix: boolean): Promise<string> {
    const base = usernameBase(who.preferredUsername && !who.preferredUsername.includes("@") ? who.preferredUsername : email.split("@")[0]!);
    if (randomSuffix) return `${base}-${randomBytes(3).toString("hex")}`;
    return this.id.db.withTenant(organizationId, async (tx) => {
      for (let n = 1; n <= 10; n++) {
        const candidate = n === 1 ? base : `${base}-${n}`;
        if (!(await this.id.users.byLogin(tx, candidate))) return candidate;
      }
      return `${base}-${randomBytes(3).toString("hex")}`;
    });
  }
}

/** 3–56 characters the username rule accepts, leaving room for a suffix within its 64. */
export function usernameBase(raw: string): string {
  const trim = (s: string) => s.replace(/^[^A-Za-z0-9]+|[^A-Za-z0-9]+$/g, "");
  const base = trim(trim(raw.replace(/[^A-Za-z0-9._-]/g, "")).slice(0, 56));
  return base.length >= 3 ? base : `user${base}`;
}

function usableEmail(email: string | undefined): string | undefined {
  if (!email) return undefined;
  try {
    return v.email("email", email);
  } catch {
    return undefined;
  }
}
