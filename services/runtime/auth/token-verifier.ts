import { createRemoteJWKSet, errors, jwtVerify, type JWTVerifyGetKey } from "jose";
import { AppError, unauthenticated } from "../errors.js";
import { status } from "@grpc/grpc-js";
import type { Caller, CallerKind, RollcallClaims } from "./caller.js";

/** Answers whether a session was revoked after its access token was issued (identity fills it). */
export interface RevocationList {
  isSessionRevoked(sessionId: string): Promise<boolean>;
}

export interface TokenVerifierOptions {
  issuer: string;
  audience: string;
  /** Where public keys come from: identity's JWKS over HTTP, or a local key set. */
  keys: JWTVerifyGetKey;
  revocations?: RevocationList;
  clockToleranceSec?: number;
}

const CALLER_KINDS: readonly CallerKind[] = ["user", "device", "service"];
export const ACCESS_TOKEN_ALGORITHMS = ["EdDSA", "ES256"];

/** identity's key set over HTTP, cached; an unknown `kid` triggers at most one refetch per cooldown. */
export function remoteKeySet(jwksUrl: string, cacheMaxAgeMs: number): JWTVerifyGetKey {
  return createRemoteJWKSet(new URL(jwksUrl), { cacheMaxAge: cacheMaxAgeMs, cooldownDuration: 10_000, timeoutDuration: 3_000 });
}

export class TokenVerifier {
  constructor(private readonly options: TokenVerifierOptions) {}

  /** Verifies an access token and returns its caller, or throws UNAUTHENTICATED saying why. */
  async verify(token: string): Promise<Caller> {
    const { payload } = await jwtVerify<RollcallClaims>(token, this.options.keys, {
      issuer: this.options.issuer,
      audience: this.options.audience,
      algorithms: ACCESS_TOKEN_ALGORITHMS,
      clockTolerance: this.options.clockToleranceSec ?? 5,
      requiredClaims: ["sub", "exp", "jti", "typ"],
    }).catch((err: unknown) => {
      throw describeJoseError(err);
    });
    if (!CALLER_KINDS.includes(payload.typ)) {
      throw unauthenticated(`access token has an unknown caller type "${String(payload.typ)}"`);
    }
    if (payload.typ !== "service" && !payload.org) {
      throw unauthenticated("access token has no organisation (org claim)");
    }
    if (payload.sid && this.options.revocations && (await this.options.revocations.isSessionRevoked(payload.sid))) {
      throw unauthenticated("session was revoked; log in again");
    }
    return {
      kind: payload.typ,
      subject: payload.sub!,
      organizationId: payload.org,
      sessionId: payload.sid,
      roles: payload.roles ?? [],
      tokenId: payload.jti!,
      expiresAt: new Date(payload.exp! * 1000),
    };
  }
}

function describeJoseError(err: unknown): AppError {
  if (err instanceof AppError) return err;
  if (err instanceof errors.JWTExpired) return unauthenticated("access token has expired; refresh it or log in again");
  if (err instanceof errors.JWSSignatureVerificationFailed) return unauthenticated("access token signature is not valid");
  if (err instanceof errors.JWKSNoMatchingKey) return unauthenticated("access token was signed by an unknown key");
  if (err instanceof errors.JWTClaimValidationFailed) {
    return unauthenticated(`access token claim "${err.claim}" is not valid: ${err.reason}`);
  }
  if (err instanceof errors.JOSEAlgNotAllowed) return unauthenticated("access token uses an algorithm that is not accepted");
  if (err instanceof errors.JWSInvalid || err instanceof errors.JWTInvalid) return unauthenticated("access token is malformed");
  if (err instanceof errors.JWKSTimeout || (err instanceof Error && /fetch|ECONNREFUSED/i.test(err.message))) {
    return new AppError(status.UNAVAILABLE, "cannot fetch the identity service's signing keys (JWKS); try again shortly");
  }
  return unauthenticated("access token could not be verified");
}
