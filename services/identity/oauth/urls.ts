import { invalidArgument } from "../../runtime/errors.js";

const LOOPBACK_HOSTS = new Set(["127.0.0.1", "[::1]", "localhost"]);

function parse(field: string, value: string, max: number): URL {
  const trimmed = value.trim();
  if (trimmed.length > max) throw invalidArgument(field, `must be at most ${max} characters (got ${trimmed.length})`);
  let url: URL;
  try {
    url = new URL(trimmed);
  } catch {
    throw invalidArgument(field, `"${trimmed.slice(0, 64)}" is not an absolute URL`);
  }
  if (url.username || url.password) throw invalidArgument(field, "must not carry credentials");
  if (trimmed.includes("#")) throw invalidArgument(field, "must not have a fragment (#…)");
  return url;
}

export const isLoopback = (url: URL): boolean => LOOPBACK_HOSTS.has(url.hostname);

/**
 * A provider's issuer or endpoint: https, or plain http on a loopback address only (a provider
 * on this machine, as in development and tests; anywhere else tokens would cross the network in
 * clear). Returned as given, trimmed: the issuer is compared with `iss` character for character.
 */
export function providerUrl(field: string, value: string, { max = 2048 } = {}): string {
  const url = parse(field, value, max);
  if (url.protocol !== "https:" && !(url.protocol === "http:" && isLoopback(url))) {
    throw invalidArgument(field, "must be an https URL (plain http only on 127.0.0.1, [::1] or localhost)");
  }
  return value.trim();
}

/** Where the provider sends the browser back: an absolute http(s) URL without fragment (RFC 6749 §3.1.2). */
export function redirectUri(field: string, value: string): string {
  const url = parse(field, value, 2048);
  if (url.protocol !== "https:" && url.protocol !== "http:") throw invalidArgument(field, "must be an http or https URL");
  return value.trim();
}

/** The same address written differently (host case, default port) compares equal. */
export function sameUrl(a: string, b: string): boolean {
  try {
    return new URL(a).href === new URL(b).href;
  } catch {
    return false;
  }
}

/** The issuer's discovery document, OpenID Connect Discovery §4 (appended, not resolved). */
export const discoveryUrl = (issuer: string): string => `${issuer.replace(/\/+$/, "")}/.well-known/openid-configuration`;
