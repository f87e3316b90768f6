import { createHash, timingSafeEqual } from "node:crypto";
import { createRemoteJWKSet, errors, jwtVerify, type JWTPayload } from "jose";
import { unauthenticated, unavailable, type AppError } from "../../runtime/errors.js";
import { PROVIDER_TIMEOUT_MS } from "./http.js";

/** Asymmetric algorithms only: an HMAC-signed ID token would be keyed with the client secret. */
const ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA", "Ed25519"];
const CLOCK_TOLERANCE_SEC = 60;

export interface IdTokenCheck {
  providerName: string;
  issuer: string;
  clientId: string;
  jwksUri: string;
  nonce: string;
  /** When the token response carried one, an `at_hash` in the ID token must match it. */
  accessToken: string | undefined;
}

export interface IdTokenClaims extends JWTPayload {
  sub: string;
  email?: unknown;
  email_verified?: unknown;
  preferred_username?: unknown;
  given_name?: unknown;
  family_name?: unknown;
  name?: unknown;
}

/**
 * Validates ID tokens as OpenID Connect Core §3.1.3.7 asks: signature against the provider's
 * published keys, iss, aud (and azp), exp/iat, and the nonce this login sent.
 */
export class IdTokenVerifier {
  /** One remote key set per JWKS URL, so keys are cached and refetched only for an unknown kid. */
  private readonly keySets = new Map<string, ReturnType<typeof createRemoteJWKSet>>();

  async verify(idToken: string, check: IdTokenCheck): Promise<IdTokenClaims> {
    const rejected = (why: string): AppError => unauthenticated(`${check.providerName}'s ID token was rejected: ${why}; start the login again`);
    let payload: JWTPayload;
    let alg: string;
    try {
      ({ payload, protectedHeader: { alg } } = await jwtVerify(idToken, this.keySet(check.jwksUri), {
        issuer: check.issuer,
        audience: check.clientId,
        algorithms: ALGORITHMS,
        clockTolerance: CLOCK_TOLERANCE_SEC,
        requiredClaims: ["sub", "iat", "exp"],
      }));
    } catch (err) {
      throw verificationError(err, rejected);
    }
    if (typeof payload.sub !== "string" || payload.sub.length === 0 || payload.sub.length > 255) throw rejected("its sub is missing or longer than 255 characters");
    if (typeof payload.nonce !== "string" || !equal(payload.nonce, check.nonce)) throw rejected("its nonce does not match this login attempt");
    if (Array.isArray(payload.aud) && payload.aud.length > 1 && payload.azp === undefined) throw rejected("it has several audiences but no azp");
    if (payload.azp !== undefined && payload.azp !== check.clientId) throw rejected("it was issued to another client (azp)");
    if (check.accessToken && payload.at_hash !== undefined) {
      if (typeof payload.at_hash !== "string" || !equal(payload.at_hash, accessTokenHash(check.accessToken, alg))) throw rejected("its at_hash does not match the access token");
    }
    return payload as IdTokenClaims;
  }

  private keySet(uri: string) {
    let set = this.keySets.get(uri);
    if (!set) {
      set = createRemoteJWKSet(new URL(uri), { timeoutDuration: PROVIDER_TIMEOUT_MS, cooldownDuration: 10_000, cacheMaxAge: 60 * 60 * 1000 });
      this.keySets.set(uri, set);
    }
    return set;
  }
}

function verificationError(err: unknown, rejected: (why: string) => AppError): AppError {
  // The key set could not be fetched: the provider's health, not the token's fault.
  if (err instanceof errors.JWKSTimeout || err instanceof TypeError || (err instanceof errors.JOSEError && err.code === "ERR_JOSE_GENERIC")) {
    return unavailable(`the identity provider's signing keys could not be fetched (${(err as Error).message}); try again later`);
  }
  if (err instanceof errors.JWTExpired) return rejected("it has expired");
  if (err instanceof errors.JWTClaimValidationFailed) return rejected(`its ${err.claim} claim is not valid (${err.reason})`);
  if (err instanceof errors.JWSSignatureVerificationFailed) return rejected("its signature does not verify");
  if (err instanceof errors.JWKSNoMatchingKey) return rejected("it is signed with a key the provider does not publish");
  if (err instanceof errors.JOSEAlgNotAllowed) return rejected("it is signed with an algorithm that is not accepted");
  if (err instanceof errors.JOSEError) return rejected(`it is malformed (${err.code})`);
  throw err;
}

/** Core §3.1.3.8: the left half of the access token's hash under the ID token's algorithm's hash. */
export function accessTokenHash(accessToken: string, alg: string): string {
  const bits = /(\d{3})$/.exec(alg)?.[1] ?? "512"; // EdDSA / Ed25519: SHA-512
  const digest = createHash(`sha${bits}`).update(accessToken, "ascii").digest();
  return digest.subarray(0, digest.length / 2).toString("base64url");
}

function equal(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
