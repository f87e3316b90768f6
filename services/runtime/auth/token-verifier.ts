import { createRemoteJWKSet, errors, jwtVerify, type JWTVerifyGetKey } from "jose";
import { AppError, unauthenticated } from "../errors.js";
import { status } from "@grpc/grpc-js";
import type { Caller, CallerKind, RollcallClaims } from "./caller.js";

import type { RevocationList } from "./revocation.js";

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

/** Verified tokens remembered, so a client's repeated calls cost one signature check, not one each. */
const VERIFIED_CACHE_SIZE = 10_000;

export class TokenVerifier {
  private readonly verified = new Map<string, Caller>();

  constructor(private readonly options: TokenVerifierOptions) {}

  /**
   * Verifies an access token and returns its caller, or throws UNAUTHENTICATED saying why. The
   * signature and claims of a token never change, so a verified token is remembered until it
   * expires; revocation, which can change, is checked on every call.
   */
  async verify(token: string): Promise<Caller> {
    const caller = this.verified.get(token) ?? (await this.verifySignature(token));
    if (caller.expiresAt.getTime() + (this.options.clockToleranceSec ?? 5) * 1000 <= Date.now()) {
      this.verified.delete(token);
      throw unauthenticated("access token has expired; refresh it or log in again");
    }
    const refused = await this.options.revocations?.reasonToRefuse({ sessionId: caller.sessionId, organizationId: caller.organizationId });
    if (refused) throw unauthenticated(refused);
    return caller;
  }

  private async verifySignature(token: string): Promise<Caller> {
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
    const caller: Caller = {
      kind: payload.typ,
      subject: payload.sub!,
      organizationId: payload.org,
      sessionId: payload.sid,
      roles: payload.roles ?? [],
      platformStaff: payload.staff === true,
      tokenId: payload.jti!,
      expiresAt: new Date(payload.exp! * 1000),
    };
    if (this.verified.size >= VERIFIED_CACHE_SIZE) this.verified.delete(this.verified.keys().next().value!);
    this.verified.set(token, caller);
    return caller;
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
