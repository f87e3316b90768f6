import type { Cache } from "../cache/cache.js";
import { CoalescedReads } from "./coalesced-reads.js";

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

/**
 * The revocation list in the shared cache, read on every call: the calls that start in one turn
 * of the event loop share one round trip (MGET).
 */
export class CacheRevocationList implements RevocationList {
  private readonly reads: CoalescedReads;

  constructor(cache: Pick<Cache, "mget">) {
    this.reads = new CoalescedReads(cache);
  }

  async reasonToRefuse({ sessionId, organizationId }: { sessionId?: string; organizationId?: string }): Promise<string | undefined> {
    const keys = [
      sessionId ? revocationKeys.session(sessionId) : undefined,
      organizationId ? revocationKeys.organization(organizationId) : undefined,
    ].filter((k): k is string => k !== undefined);
    if (keys.length === 0) return undefined;
    const [first, second] = await this.reads.get(keys);
    if (sessionId && first !== null) return "session was revoked; log in again";
    const orgValue = sessionId ? second : first;
    if (organizationId && orgValue !== null && orgValue !== undefined) return `organisation is ${orgValue.toLowerCase()}; its tokens no longer work`;
    return undefined;
  }
}
