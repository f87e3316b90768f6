import type { Metadata } from "@grpc/grpc-js";
import { unauthenticated } from "../errors.js";
import type { Caller } from "./caller.js";
import type { TokenVerifier } from "./token-verifier.js";

/**
 * The one auth step of every call: reads `authorization: Bearer <jwt>` from the metadata and
 * verifies it. Public methods (login, JWKS, ...) may be called without a token; a token they
 * do get is still verified, so a bad one is never silently ignored.
 */
export class Authenticator {
  constructor(private readonly verifier: TokenVerifier) {}

  async authenticate(metadata: Metadata, isPublic: boolean): Promise<Caller | undefined> {
    const token = bearerToken(metadata);
    if (token === undefined) {
      if (isPublic) return undefined;
      throw unauthenticated("this call needs an access token: send metadata 'authorization: Bearer <token>'");
    }
    return this.verifier.verify(token);
  }

  /**
   * The same check for a token that came another way than gRPC metadata (a NATS message's
   * `authorization` header): required, `Bearer <jwt>`, verified.
   */
  async authenticateHeader(header: string | undefined, where: string): Promise<Caller> {
    if (header === undefined) throw unauthenticated(`${where} needs an access token: 'authorization: Bearer <token>'`);
    const match = BEARER.exec(header.trim());
    if (!match) throw unauthenticated(`${where}: 'authorization' must be 'Bearer <token>'`);
    return this.verifier.verify(match[1]!);
  }
}

const BEARER = /^Bearer\s+(\S+)$/i;

export function bearerToken(metadata: Metadata): string | undefined {
  const values = metadata.get("authorization");
  if (values.length === 0) return undefined;
  if (values.length > 1) throw unauthenticated("send exactly one 'authorization' metadata entry");
  const match = BEARER.exec(String(values[0]).trim());
  if (!match) throw unauthenticated("'authorization' metadata must be 'Bearer <token>'");
  return match[1];
}
