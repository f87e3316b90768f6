import type { JsonObject } from "@bufbuild/protobuf";
import { unauthenticated } from "../../runtime/errors.js";
import { callProvider, isObject } from "./http.js";
import type { IdTokenClaims } from "./id-token.js";

/** Who the provider says logged in: the stable subject, and what is known of the person. */
export interface ExternalIdentity {
  subject: string;
  email: string | undefined;
  /** Only the provider's explicit `email_verified: true` counts. */
  emailVerified: boolean;
  preferredUsername: string | undefined;
  givenName: string | undefined;
  familyName: string | undefined;
  name: string | undefined;
}

/** OpenID Connect Core §5.3: the UserInfo endpoint, called with the access token just obtained. */
export async function fetchUserinfo(providerName: string, endpoint: string, accessToken: string, signal?: AbortSignal): Promise<Record<string, unknown>> {
  const res = await callProvider("userinfo", endpoint, { method: "GET", headers: { authorization: `Bearer ${accessToken}` } }, signal);
  if (res.status !== 200) throw unauthenticated(`${providerName} refused the userinfo request (HTTP ${res.status}); start the login again`);
  if (!isObject(res.json)) throw unauthenticated(`${providerName}'s userinfo answer is not a JSON object (signed or encrypted userinfo is not supported)`);
  return res.json;
}

const text = (value: unknown): string | undefined => (typeof value === "string" && value.trim() ? value.trim() : undefined);

/**
 * The ID token's claims completed by userinfo's. The ID token is signed, so it wins where both
 * speak; email and email_verified are taken as a pair from one source, so a verified flag never
 * vouches for an address it was not issued with.
 */
export function externalIdentity(providerName: string, id: IdTokenClaims, userinfo: Record<string, unknown> | undefined): ExternalIdentity {
  // Core §5.3.2: a userinfo answer about another subject must not be used.
  if (userinfo && userinfo.sub !== id.sub) throw unauthenticated(`${providerName}'s userinfo describes another subject than its ID token; start the login again`);
  const info = userinfo ?? {};
  const emailSource: Record<string, unknown> = text(id.email) ? id : info;
  const pick = (key: string) => text(id[key]) ?? text(info[key]);
  return {
    subject: id.sub,
    email: text(emailSource.email),
    // Some providers send the flag as a string.
    emailVerified: emailSource.email_verified === true || emailSource.email_verified === "true",
    preferredUsername: pick("preferred_username"),
    givenName: pick("given_name"),
    familyName: pick("family_name"),
    name: pick("name"),
  };
}

/** What is kept about the external account beside the link: profile facts, never tokens. */
export function providerData(who: ExternalIdentity): JsonObject {
  const data: JsonObject = { email_verified: who.emailVerified };
  if (who.email) data.email = who.email;
  if (who.preferredUsername) data.preferred_username = who.preferredUsername;
  if (who.name) data.name = who.name;
  return data;
}
