import type { ClientAuthMethod, Endpoints, ProviderConfig } from "./provider-settings.js";
import { callProvider, isObject } from "./http.js";
import { discoveryUrl, providerUrl } from "./urls.js";

/** A discovery document that cannot be used: the provider's configuration is wrong, not its health. */
export class DiscoveryProblem extends Error {
  override name = "DiscoveryProblem";
}

export interface ProviderMetadata extends Endpoints {
  issuer: string;
  /** Absent means client_secret_basic only (OpenID Connect Discovery §3). */
  clientAuthMethods: string[] | undefined;
}

export interface ResolvedProvider {
  endpoints: Endpoints;
  clientAuthMethod: ClientAuthMethod;
}

const CACHE_MS = 60 * 60 * 1000;

/**
 * OpenID Connect Discovery: the provider's endpoints from `{issuer}/.well-known/openid-configuration`,
 * kept for an hour per issuer (providers change them rarely, and every login needs them).
 */
export class Discovery {
  private readonly cache = new Map<string, { metadata: ProviderMetadata; until: number }>();

  constructor(private readonly now: () => number = Date.now) {}

  async metadata(issuer: string, signal?: AbortSignal): Promise<ProviderMetadata> {
    const cached = this.cache.get(issuer);
    if (cached && cached.until > this.now()) return cached.metadata;
    const url = discoveryUrl(issuer);
    const res = await callProvider("discovery", url, { method: "GET" }, signal);
    if (res.status !== 200) throw new DiscoveryProblem(`no OpenID discovery document at ${url} (HTTP ${res.status})`);
    if (!isObject(res.json)) throw new DiscoveryProblem(`the discovery document at ${url} is not a JSON object`);
    const doc = res.json;
    // Discovery §4.3: a document naming another issuer is an impersonation attempt or a typo.
    if (doc.issuer !== issuer) {
      throw new DiscoveryProblem(`the discovery document at ${url} names issuer ${JSON.stringify(doc.issuer)}, not ${JSON.stringify(issuer)}; configure the issuer exactly as the provider names it`);
    }
    const endpoint = (key: string, required: boolean): string | undefined => {
      const value = doc[key];
      if (value === undefined && !required) return undefined;
      if (typeof value !== "string") throw new DiscoveryProblem(`the discovery document at ${url} has no ${key}`);
      try {
        return providerUrl(key, value);
      } catch (err) {
        throw new DiscoveryProblem(`the discovery document at ${url} has an unusable ${key}: ${(err as Error).message}`);
      }
    };
    const challengeMethods = doc.code_challenge_methods_supported;
    if (Array.isArray(challengeMethods) && !challengeMethods.includes("S256")) {
      throw new DiscoveryProblem(`the provider at ${issuer} does not support PKCE with S256`);
    }
    const authMethods = doc.token_endpoint_auth_methods_supported;
    const metadata: ProviderMetadata = {
      issuer,
      authorization: endpoint("authorization_endpoint", true)!,
      token: endpoint("token_endpoint", true)!,
      jwks: endpoint("jwks_uri", true)!,
      userinfo: endpoint("userinfo_endpoint", false),
      clientAuthMethods: Array.isArray(authMethods) ? authMethods.filter((m): m is string => typeof m === "string") : undefined,
    };
    this.cache.set(issuer, { metadata, until: this.now() + CACHE_MS });
    return metadata;
  }

  /**
   * The provider's endpoints: the administrator's where given, discovered otherwise. A provider
   * configured with its authorization, token and JWKS endpoints needs no discovery document.
   */
  async resolve(provider: ProviderConfig, signal?: AbortSignal): Promise<ResolvedProvider> {
    const { authorization, token, jwks, userinfo } = provider.endpoints;
    if (authorization && token && jwks) {
      return { endpoints: { authorization, token, jwks, userinfo }, clientAuthMethod: provider.clientAuthMethod ?? "client_secret_basic" };
    }
    const found = await this.metadata(provider.issuer, signal);
    return {
      endpoints: {
        authorization: authorization ?? found.authorization,
        token: token ?? found.token,
        jwks: jwks ?? found.jwks,
        userinfo: userinfo ?? found.userinfo,
      },
      clientAuthMethod: provider.clientAuthMethod ?? chooseClientAuth(provider.issuer, found.clientAuthMethods),
    };
  }
}

function chooseClientAuth(issuer: string, supported: string[] | undefined): ClientAuthMethod {
  if (!supported || supported.includes("client_secret_basic")) return "client_secret_basic";
  if (supported.includes("client_secret_post")) return "client_secret_post";
  throw new DiscoveryProblem(`the provider at ${issuer} accepts neither client_secret_basic nor client_secret_post at its token endpoint`);
}
