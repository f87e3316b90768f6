import { unauthenticated } from "../../runtime/errors.js";
import type { ClientAuthMethod } from "./provider-settings.js";
import { callProvider, isObject } from "./http.js";

export interface CodeExchange {
  providerName: string;
  tokenEndpoint: string;
  clientAuthMethod: ClientAuthMethod;
  clientId: string;
  clientSecret: string;
  code: string;
  redirectUri: string;
  codeVerifier: string;
}

export interface ProviderTokens {
  idToken: string;
  accessToken: string | undefined;
  refreshToken: string | undefined;
  expiresAt: Date | undefined;
}

/** RFC 6749 §4.1.3: the authorization code (with its PKCE verifier) for the provider's tokens. */
export async function exchangeCode(x: CodeExchange, signal?: AbortSignal): Promise<ProviderTokens> {
  const form = new URLSearchParams({ grant_type: "authorization_code", code: x.code, redirect_uri: x.redirectUri, code_verifier: x.codeVerifier });
  const headers: Record<string, string> = { "content-type": "application/x-www-form-urlencoded" };
  if (x.clientAuthMethod === "client_secret_basic") {
    // §2.3.1: id and secret are form-encoded before they are joined and base64-encoded.
    headers.authorization = `Basic ${Buffer.from(`${formEncode(x.clientId)}:${formEncode(x.clientSecret)}`).toString("base64")}`;
  } else {
    form.set("client_id", x.clientId);
    form.set("client_secret", x.clientSecret);
  }
  const res = await callProvider("the token request", x.tokenEndpoint, { method: "POST", headers, body: form.toString() }, signal);
  const body = isObject(res.json) ? res.json : {};
  if (res.status !== 200) {
    const error = typeof body.error === "string" ? body.error.slice(0, 64) : `HTTP ${res.status}`;
    const description = typeof body.error_description === "string" ? ` (${body.error_description.slice(0, 200)})` : "";
    if (error === "invalid_client") {
      throw unauthenticated(`${x.providerName} rejected Rollcall's client credentials (invalid_client${description}); an administrator should check the provider's client id and secret`);
    }
    throw unauthenticated(`${x.providerName} refused the authorization code: ${error}${description}; start the login again`);
  }
  if (typeof body.id_token !== "string" || !body.id_token) {
    throw unauthenticated(`${x.providerName} returned no ID token; the provider's scopes must include "openid"`);
  }
  const accessToken = typeof body.access_token === "string" && body.access_token ? body.access_token : undefined;
  if (accessToken && typeof body.token_type === "string" && body.token_type.toLowerCase() !== "bearer") {
    throw unauthenticated(`${x.providerName} issued a ${body.token_type.slice(0, 32)} access token; only Bearer tokens are supported`);
  }
  const expiresIn = typeof body.expires_in === "number" ? body.expires_in : Number(body.expires_in);
  return {
    idToken: body.id_token,
    accessToken,
    refreshToken: typeof body.refresh_token === "string" && body.refresh_token ? body.refresh_token : undefined,
    expiresAt: Number.isFinite(expiresIn) && expiresIn > 0 ? new Date(Date.now() + expiresIn * 1000) : undefined,
  };
}

const formEncode = (value: string): string => new URLSearchParams({ v: value }).toString().slice(2);
