import type { Cache } from "../cache/cache.js";

/** Redis keys the auth interceptor checks on every call (written by identity). */
export const revocationKeys = {
  /** A revoked session family; TTL = access-token lifetime (older tokens have expired anyway). */
  session: (sessionId: string) => `session:revoked:${sessionId}`,
  /** A suspended or deactivating organisation: its tokens stop working at the next call. */
  organization: (organizationId: string) => `org:blocked:${organizationId}`,
};

/** Says why a token that verified must still be refused, or undefined. */
export interface RevocationList {
  reasonToRefuse(token: { sessionId?: string; organizationId?: string }): Promise<string | undefined>;
}

/** The revocation list in the shared cache: one round trip (MGET) per call. */
export class CacheRevocationList implements RevocationList {
  constructor(private readonly cache: Cache) {}

  async reasonToRefuse({ sessionId, organizationId }: { sessionId?: string; organizationId?: string }): Promise<string | undefined> {
    const keys = [
      sessionId ? revocationKeys.session(sessionId) : undefined,
      organizationId ? revocationKeys.organization(organizationId) : undefined,
    ].filter((k): k is string => k !== undefined);
    if (keys.length === 0) return undefined;
    const [first, second] = await this.cache.mget(...keys);
    if (sessionId && first !== null) return "session was revoked; log in again";
    const orgValue = sessionId ? second : first;
    if (organizationId && orgValue !== null && orgValue !== undefined) return `organisation is ${orgValue.toLowerCase()}; its tokens no longer work`;
    return undefined;
  }
}
