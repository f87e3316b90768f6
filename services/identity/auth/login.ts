import { unauthenticated, permissionDenied } from "../../runtime/errors.js";
import * as v from "../../runtime/validate.js";
import { Severity } from "../../runtime/event-publisher.js";
import type { Identity } from "../context.js";
import type { Sessions, ClientInfo } from "../sessions/sessions.js";
import { refusalToSignIn } from "../users/standing.js";
import type { OrganizationStanding, UserRow } from "../users/store.js";
import { Lockout } from "./lockout.js";
import { OrganizationIds } from "./organization-ids.js";

const BAD_CREDENTIALS = "the organisation, login or password is not correct";

export interface LoginInput {
  organizationCode: string;
  login: string;
  password: string;
}

/**
 * Password login. Unknown organisations and users cost the same argon2 work as a wrong password
 * and get the same answer, so the answer and its timing reveal nothing about who exists.
 */
export class PasswordLogin {
  private readonly organizationIds = new OrganizationIds();

  constructor(private readonly id: Identity, private readonly sessions: Sessions, private readonly lockout: Lockout) {}

  async login(input: LoginInput, client: ClientInfo) {
    const code = v.text("organization_code", input.organizationCode, { min: 1, max: 64 });
    const login = v.text("login", input.login, { min: 1, max: 254 });
    if (!input.password) throw unauthenticated(BAD_CREDENTIALS);
    const keys = Lockout.keys(code, login, client.ip);
    // Independent reads, both before any password work: one wait instead of two.
    const [, found] = await Promise.all([this.lockout.check(keys), this.lookUp(code, login)]);
    const org = found && { id: found.organizationId, ...found.organization };
    const user = found?.user;
    const verdict = user?.password_hash ? await this.id.hasher.verify(user.password_hash, input.password) : undefined;
    if (!verdict) await this.id.hasher.verifyNothing(input.password);

    if (!org || !user || !verdict?.ok) {
      const lockMs = await this.lockout.fail(keys);
      await this.id.audit.publish({
        organizationId: org?.id, actor: user ? { kind: "user", subject: user.id } : { kind: "system", subject: "" }, action: "auth.login",
        entityType: "user", entityId: user?.id ?? "", outcome: "FAILURE", ip: client.ip, userAgent: client.userAgent,
        detail: { login, ...(lockMs > 0 ? { lockedForMs: lockMs } : {}) },
      });
      if (lockMs > 0) {
        await this.id.events.publish({ organizationId: org?.id, type: "LOGIN_LOCKOUT", severity: Severity.WARNING, referenceId: user?.id ?? "", metadata: { login, ip: client.ip, lockedForMs: lockMs } });
      }
      throw unauthenticated(BAD_CREDENTIALS);
    }
    const refusal = refusalToSignIn(user, org);
    if (refusal) {
      await this.id.audit.publish({ organizationId: org.id, actor: { kind: "user", subject: user.id }, action: "auth.login", entityType: "user", entityId: user.id, outcome: "DENIED", ip: client.ip, userAgent: client.userAgent, detail: { reason: refusal } });
      throw permissionDenied(refusal);
    }
    const open = async () => {
      const rehash = verdict.needsRehash ? await this.id.hasher.hash(input.password) : undefined;
      const opened = await this.id.db.withTenant(org.id, async (tx) => this.sessions.open(tx, await this.id.users.recordLogin(tx, user, rehash), client));
      return { opened, rehash };
    };
    const [{ opened, rehash }] = await Promise.all([open(), this.lockout.succeed(keys[0]!)]);
    // The session is committed: its audit event does not wait for the token, nor the token for it.
    const [tokens] = await Promise.all([
      this.sessions.tokensFor(opened),
      this.id.audit.publish({ organizationId: org.id, actor: { kind: "user", subject: user.id }, action: "auth.login", entityType: "session", entityId: opened.familyId, outcome: "SUCCESS", ip: client.ip, userAgent: client.userAgent, detail: rehash ? { passwordRehashed: true } : {} }),
    ]);
    return { tokens, user: opened.user };
  }

  /**
   * The organisation and the user a login names. With the organisation's id remembered, one
   * tenant transaction reads both; otherwise (the first login to it here, or it was deleted and
   * its code taken by another) the organisation is found by code first.
   */
  private async lookUp(code: string, login: string): Promise<{ organizationId: string; organization: OrganizationStanding; user: UserRow | undefined } | undefined> {
    const known = this.organizationIds.get(code);
    if (known) {
      const found = await this.id.db.withTenant(known, (tx) => this.id.users.organizationAndLogin(tx, known, login));
      if (found && found.organization.code.toLowerCase() === code.toLowerCase()) return { organizationId: known, ...found };
      this.organizationIds.forget(code);
    }
    const organization = await this.id.db.withSystem((tx) => this.id.organizations.byCode(tx, code));
    if (!organization) return undefined;
    this.organizationIds.remember(code, organization.id);
    const user = await this.id.db.withTenant(organization.id, (tx) => this.id.users.byLogin(tx, login));
    return { organizationId: organization.id, organization, user };
  }
}
