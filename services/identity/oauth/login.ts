import { status } from "@grpc/grpc-js";
import { AppError, failedPrecondition, invalidArgument, notFound, permissionDenied, resourceExhausted } from "../../runtime/errors.js";
import * as v from "../../runtime/validate.js";
import type { Identity } from "../context.js";
import type { ClientInfo, Sessions } from "../sessions/sessions.js";
import type { OrganizationRow } from "../organizations/store.js";
import type { UserRow } from "../users/store.js";
import { refusalToSignIn } from "../users/standing.js";
import { IdTokenVerifier } from "./id-token.js";
import type { AccountLinker, LinkedUser } from "./link.js";
import { newPkce, randomValue } from "./pkce.js";
import { providerConfig, providerName, type ProviderConfig } from "./provider-settings.js";
import type { OAuthProviders } from "./providers.js";
import type { LoginStates } from "./state-store.js";
import type { OAuthStore } from "./store.js";
import { exchangeCode, type ProviderTokens } from "./token-exchange.js";
import { redirectUri, sameUrl } from "./urls.js";
import { externalIdentity, fetchUserinfo, providerData, type ExternalIdentity } from "./userinfo.js";

export interface StartInput {
  organizationCode: string;
  providerName: string;
  redirectUri: string;
}

export interface CompleteInput {
  state: string;
  code: string;
}

const EXPIRED_ATTEMPT = "this login attempt expired or was already used; start the login again";

/** Answers that mean the provider or Rollcall said no to this person: audited as a failed login. */
const REFUSALS = new Set([status.UNAUTHENTICATED, status.PERMISSION_DENIED, status.FAILED_PRECONDITION]);

/** Each start stores an attempt for ten minutes; this keeps one address from filling the cache. */
export const STARTS_PER_IP_PER_MINUTE = 120;

/**
 * The OpenID Connect authorization-code flow with PKCE (RFC 7636), state and nonce. Start
 * remembers the attempt and sends the browser to the provider; Complete redeems the code once,
 * proves the ID token, finds or creates the user and opens a session as password login does.
 */
export class OAuthLogin {
  private readonly idTokens = new IdTokenVerifier();

  constructor(
    private readonly id: Identity,
    private readonly providers: OAuthProviders,
    private readonly store: OAuthStore,
    private readonly states: LoginStates,
    private readonly linker: AccountLinker,
    private readonly sessions: Sessions,
  ) {}

  async start(input: StartInput, ip: string, signal?: AbortSignal): Promise<{ authorizationUrl: string; state: string; expiresAt: Date }> {
    const code = v.text("organization_code", input.organizationCode, { min: 1, max: 64 });
    const name = providerName("provider_name", input.providerName);
    if (!input.redirectUri.trim()) throw invalidArgument("redirect_uri", "is required");
    const redirect = redirectUri("redirect_uri", input.redirectUri);
    await this.throttle(ip);
    const org = await this.id.db.withSystem((tx) => this.id.organizations.byCode(tx, code));
    if (!org) throw notFound("organisation", code);
    const row = await this.providers.byName(org.id, name);
    if (!row) throw notFound("OAuth provider", `"${name}" of organisation ${org.code}`);
    const provider = providerConfig(row);
    const allowed = [...(provider.redirectUris ?? []), ...organizationRedirectUris(org)];
    // Without an allow-list the provider's own registration of redirect URIs is the check.
    if (allowed.length > 0 && !allowed.some((uri) => sameUrl(uri, redirect))) {
      throw invalidArgument("redirect_uri", `${redirect} is not an allowed redirect URI of provider ${name}; ask your administrator to add it to the provider's settings.redirect_uris`);
    }
    const { endpoints } = await this.providers.resolve(provider, signal, "login");
    const pkce = newPkce();
    const nonce = randomValue();
    const { state, expiresAt } = await this.states.create({ providerId: row.id, organizationId: org.id, codeVerifier: pkce.verifier, nonce, redirectUri: redirect });
    const url = new URL(endpoints.authorization);
    const params = {
      response_type: "code",
      client_id: provider.clientId,
      redirect_uri: redirect,
      scope: provider.scopes.join(" "),
      state,
      nonce,
      code_challenge: pkce.challenge,
      code_challenge_method: "S256",
    };
    for (const [key, value] of Object.entries(params)) url.searchParams.set(key, value);
    return { authorizationUrl: url.href, state, expiresAt };
  }

  async complete(input: CompleteInput, client: ClientInfo, signal?: AbortSignal) {
    const state = v.text("state", input.state, { min: 1, max: 512 });
    const code = v.text("code", input.code, { min: 1, max: 4096 });
    v.text("device_id", client.deviceId, { max: 200 });
    // Taken before anything else: whatever happens next, this state cannot be used again.
    const attempt = await this.states.take(state);
    if (!attempt) throw failedPrecondition(EXPIRED_ATTEMPT);
    const org = await this.id.db.withSystem((tx) => this.id.organizations.byId(tx, attempt.organizationId));
    const row = org && (await this.providers.byId(org.id, attempt.providerId));
    if (!org || !row) throw failedPrecondition("the identity provider of this login attempt was removed; start the login again");
    const provider = providerConfig(row);

    const audit = (outcome: "SUCCESS" | "FAILURE" | "DENIED", user: UserRow | undefined, detail: Record<string, string | boolean>, entity?: { type: string; id: string }) =>
      this.id.audit.publish({
        organizationId: org.id, actor: user ? { kind: "user", subject: user.id } : { kind: "system", subject: "" }, action: "auth.login",
        entityType: entity?.type ?? "user", entityId: entity?.id ?? user?.id ?? "", outcome, ip: client.ip, userAgent: client.userAgent,
        detail: { method: "oauth", provider: provider.name, ...detail },
      });

    let who: ExternalIdentity;
    let tokens: ProviderTokens;
    let linked: LinkedUser;
    try {
      ({ who, tokens } = await this.prove(provider, this.providers.clientSecret(row), code, attempt, signal));
      linked = await this.linker.resolve(org, provider, who);
    } catch (err) {
      if (err instanceof AppError && REFUSALS.has(err.code)) await audit(err.code === status.UNAUTHENTICATED ? "FAILURE" : "DENIED", undefined, { reason: err.message });
      throw err;
    }
    if (linked.how !== "linked") {
      await this.id.audit.publish({
        organizationId: org.id, actor: { kind: "user", subject: linked.user.id }, action: "oauth_account.link", entityType: "oauth_account", entityId: linked.accountId,
        outcome: "SUCCESS", ip: client.ip, userAgent: client.userAgent, detail: { provider: provider.name, matchedBy: linked.how === "email" ? "verified_email" : "new_user" },
      });
    }
    const refusal = refusalToSignIn(linked.user, org);
    if (refusal) {
      await audit("DENIED", linked.user, { reason: refusal });
      throw permissionDenied(refusal);
    }
    const opened = await this.id.db.withTenant(org.id, async (tx) => {
      await this.store.saveTokens(tx, linked.accountId, {
        accessTokenEnc: tokens.accessToken ? this.id.box.seal(tokens.accessToken, linked.accountId) : null,
        refreshTokenEnc: tokens.refreshToken ? this.id.box.seal(tokens.refreshToken, linked.accountId) : null,
        expiresAt: tokens.expiresAt ?? null,
        providerData: providerData(who),
      });
      return this.sessions.open(tx, await this.id.users.recordLogin(tx, linked.user, undefined), client);
    });
    const authTokens = await this.sessions.tokensFor(opened);
    await audit("SUCCESS", opened.user, { userCreated: linked.how === "created" }, { type: "session", id: opened.familyId });
    return { tokens: authTokens, user: opened.user, userCreated: linked.how === "created" };
  }

  private async throttle(ip: string): Promise<void> {
    if (!ip) return;
    const key = `oauth:start:ip:${ip}`;
    if ((await this.id.cache.incr(key, 60_000)) <= STARTS_PER_IP_PER_MINUTE) return;
    const waitMs = Math.max(await this.id.cache.pttl(key), 1_000);
    throw resourceExhausted(`too many logins started from this address; try again in ${Math.ceil(waitMs / 1000)} s`, waitMs);
  }

  /** The provider's word on who logged in: code for tokens, ID token verified, userinfo merged. */
  private async prove(provider: ProviderConfig, clientSecret: string, code: string, attempt: { codeVerifier: string; nonce: string; redirectUri: string }, signal?: AbortSignal) {
    const { endpoints, clientAuthMethod } = await this.providers.resolve(provider, signal, "login");
    const tokens = await exchangeCode({
      providerName: provider.name, tokenEndpoint: endpoints.token, clientAuthMethod, clientId: provider.clientId, clientSecret,
      code, redirectUri: attempt.redirectUri, codeVerifier: attempt.codeVerifier,
    }, signal);
    const claims = await this.idTokens.verify(tokens.idToken, {
      providerName: provider.name, issuer: provider.issuer, clientId: provider.clientId, jwksUri: endpoints.jwks, nonce: attempt.nonce, accessToken: tokens.accessToken,
    });
    const info = endpoints.userinfo && tokens.accessToken ? await fetchUserinfo(provider.name, endpoints.userinfo, tokens.accessToken, signal) : undefined;
    return { who: externalIdentity(provider.name, claims, info), tokens };
  }
}

/** An organisation-wide allow-list beside the provider's own, in the organisation's settings. */
function organizationRedirectUris(org: OrganizationRow): string[] {
  const uris = org.settings.oauth_redirect_uris;
  return Array.isArray(uris) ? uris.filter((u): u is string => typeof u === "string") : [];
}
