import type { JsonObject, JsonValue } from "@bufbuild/protobuf";
import { invalidArgument } from "../../runtime/errors.js";
import * as v from "../../runtime/validate.js";
import type { ProviderRow } from "./store.js";
import { providerUrl, redirectUri } from "./urls.js";

export const DEFAULT_SCOPES = ["openid", "email", "profile"];
export const MAX_PROVIDERS_PER_ORGANIZATION = 50;

export type ClientAuthMethod = "client_secret_basic" | "client_secret_post";
const CLIENT_AUTH_METHODS: readonly ClientAuthMethod[] = ["client_secret_basic", "client_secret_post"];

export interface Endpoints {
  authorization: string;
  token: string;
  jwks: string;
  /** Optional: without it the claims come from the ID token alone. */
  userinfo: string | undefined;
}

/** A provider as the login flow uses it (the secret stays sealed until the token request). */
export interface ProviderConfig {
  id: string;
  organizationId: string;
  name: string;
  issuer: string;
  clientId: string;
  scopes: string[];
  /** Configured by the administrator; whatever is missing comes from discovery. */
  endpoints: Partial<Endpoints>;
  /** When set, StartOAuthLogin accepts only these redirect URIs. */
  redirectUris: string[] | undefined;
  /** False: only users already linked, or matched by verified email, may log in. */
  autoCreateUsers: boolean;
  clientAuthMethod: ClientAuthMethod | undefined;
}

/**
 * The endpoint fields of CreateOAuthProvider have no columns of their own: they are kept in the
 * settings column under these keys and shown again as fields, never inside `settings`.
 */
const ENDPOINT_KEYS = { authorization_endpoint: "authorization", token_endpoint: "token", userinfo_endpoint: "userinfo" } as const;
type EndpointKey = keyof typeof ENDPOINT_KEYS;

export interface ProviderInput {
  name: string;
  issuer: string;
  clientId: string;
  clientSecret: string;
  scopes: string[];
  authorizationEndpoint: string;
  tokenEndpoint: string;
  userinfoEndpoint: string;
  settings?: JsonObject;
}

export interface CleanProvider {
  name: string;
  issuer: string;
  clientId: string;
  clientSecret: string;
  scopes: string[];
  /** What the settings column stores: the administrator's settings and the explicit endpoints. */
  storedSettings: JsonObject;
}

const NAME = /^[a-z0-9_-]{1,64}$/;

export function providerName(field: string, value: string): string {
  const trimmed = value.trim();
  if (!NAME.test(trimmed)) throw invalidArgument(field, "must be 1–64 characters of a–z, 0–9, '_' or '-' (e.g. \"google\")");
  return trimmed;
}

/** Validates CreateOAuthProvider's fields, each error naming its field. */
export function cleanProvider(input: ProviderInput): CleanProvider {
  const name = providerName("name", input.name);
  const issuer = providerUrl("issuer", input.issuer);
  if (new URL(issuer).search) throw invalidArgument("issuer", "must not have a query (OpenID Connect Discovery §2)");
  const clientId = v.text("client_id", input.clientId, { min: 1, max: 512 });
  // Not trimmed: a secret is exactly what the provider issued.
  if (input.clientSecret.length < 1) throw invalidArgument("client_secret", "is required");
  if (input.clientSecret.length > 1024) throw invalidArgument("client_secret", "must be at most 1024 characters");
  const scopes = cleanScopes(input.scopes);
  const storedSettings = cleanSettings(input.settings);
  const endpoints: Record<EndpointKey, string> = {
    authorization_endpoint: input.authorizationEndpoint,
    token_endpoint: input.tokenEndpoint,
    userinfo_endpoint: input.userinfoEndpoint,
  };
  for (const [key, value] of Object.entries(endpoints)) {
    if (value.trim()) storedSettings[key] = providerUrl(key, value);
  }
  return { name, issuer, clientId, clientSecret: input.clientSecret, scopes, storedSettings };
}

function cleanScopes(scopes: string[]): string[] {
  if (scopes.length === 0) return DEFAULT_SCOPES;
  if (scopes.length > 20) throw invalidArgument("scopes", `must have at most 20 entries (got ${scopes.length})`);
  const clean = scopes.map((s, i) => {
    const scope = v.text(`scopes[${i}]`, s, { min: 1, max: 128 });
    // RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
    if (!/^[\x21\x23-\x5B\x5D-\x7E]+$/.test(scope)) throw invalidArgument(`scopes[${i}]`, "must be printable ASCII without spaces, '\"' or '\\'");
    return scope;
  });
  if (!clean.includes("openid")) throw invalidArgument("scopes", "must include \"openid\": login needs the provider's ID token");
  return [...new Set(clean)];
}

function cleanSettings(settings: JsonObject | undefined): JsonObject {
  const json: JsonObject = { ...(settings ?? {}) };
  if (JSON.stringify(json).length > 16_384) throw invalidArgument("settings", "must be at most 16 KiB as JSON");
  for (const key of Object.keys(ENDPOINT_KEYS)) {
    if (key in json) throw invalidArgument(`settings.${key}`, `set the ${key} field instead`);
  }
  const uris = json.redirect_uris;
  if (uris !== undefined) {
    if (!Array.isArray(uris) || uris.length > 20 || uris.some((u) => typeof u !== "string")) {
      throw invalidArgument("settings.redirect_uris", "must be a list of at most 20 URLs");
    }
    json.redirect_uris = uris.map((u, i) => redirectUri(`settings.redirect_uris[${i}]`, u as string));
  }
  if (json.auto_create_users !== undefined && typeof json.auto_create_users !== "boolean") {
    throw invalidArgument("settings.auto_create_users", "must be true or false");
  }
  if (json.jwks_uri !== undefined) {
    if (typeof json.jwks_uri !== "string") throw invalidArgument("settings.jwks_uri", "must be a URL");
    json.jwks_uri = providerUrl("settings.jwks_uri", json.jwks_uri);
  }
  const method = json.token_endpoint_auth_method;
  if (method !== undefined && !CLIENT_AUTH_METHODS.includes(method as ClientAuthMethod)) {
    throw invalidArgument("settings.token_endpoint_auth_method", `must be one of ${CLIENT_AUTH_METHODS.join(", ")}`);
  }
  return json;
}

const str = (value: JsonValue | undefined): string | undefined => (typeof value === "string" && value ? value : undefined);

export function providerConfig(row: ProviderRow): ProviderConfig {
  const s = row.settings;
  return {
    id: row.id,
    organizationId: row.organization_id,
    name: row.name,
    issuer: row.issuer,
    clientId: row.client_id,
    scopes: row.scopes,
    endpoints: {
      authorization: str(s.authorization_endpoint),
      token: str(s.token_endpoint),
      userinfo: str(s.userinfo_endpoint),
      jwks: str(s.jwks_uri),
    },
    redirectUris: Array.isArray(s.redirect_uris) ? s.redirect_uris.filter((u): u is string => typeof u === "string") : undefined,
    autoCreateUsers: s.auto_create_users !== false,
    clientAuthMethod: str(s.token_endpoint_auth_method) as ClientAuthMethod | undefined,
  };
}

/** The settings as the administrator wrote them, without the endpoints kept beside them. */
export function publicSettings(row: ProviderRow): JsonObject {
  const rest: JsonObject = { ...row.settings };
  for (const key of Object.keys(ENDPOINT_KEYS)) delete rest[key];
  return rest;
}
