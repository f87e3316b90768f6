import type { Cache } from "../../runtime/cache/cache.js";
import type { SecretBox } from "../crypto/secret-box.js";
import { hashToken } from "../crypto/opaque-tokens.js";
import { randomValue } from "./pkce.js";

export const LOGIN_ATTEMPT_TTL_MS = 10 * 60 * 1000;

/** What StartOAuthLogin remembers for CompleteOAuthLogin. */
export interface LoginAttempt {
  providerId: string;
  organizationId: string;
  codeVerifier: string;
  nonce: string;
  redirectUri: string;
}

interface Stored {
  providerId: string;
  organizationId: string;
  /** Sealed: whoever reads the cache must not be able to redeem a stolen code. */
  verifier: string;
  nonce: string;
  redirectUri: string;
}

/**
 * Login attempts in the shared cache, keyed by the SHA-256 of their state (the state itself is a
 * bearer secret the browser carries). Every replica sees them, they expire on their own, and each
 * is taken at most once.
 */
export class LoginStates {
  constructor(private readonly cache: Cache, private readonly box: SecretBox, private readonly ttlMs = LOGIN_ATTEMPT_TTL_MS) {}

  async create(attempt: LoginAttempt): Promise<{ state: string; expiresAt: Date }> {
    const state = randomValue();
    const key = keyOf(state);
    const stored: Stored = {
      providerId: attempt.providerId,
      organizationId: attempt.organizationId,
      verifier: this.box.seal(attempt.codeVerifier, key),
      nonce: attempt.nonce,
      redirectUri: attempt.redirectUri,
    };
    // 256 random bits never collide in practice; refusing to overwrite keeps it so by construction.
    if (!(await this.cache.setIfAbsent(key, JSON.stringify(stored), this.ttlMs))) throw new Error("login state collision");
    return { state, expiresAt: new Date(Date.now() + this.ttlMs) };
  }

  /**
   * The attempt, removed from the cache; undefined when unknown, expired or already taken. Of
   * two concurrent takers only the one whose delete removed the key gets it.
   */
  async take(state: string): Promise<LoginAttempt | undefined> {
    const key = keyOf(state);
    const value = await this.cache.get(key);
    if (value === null || (await this.cache.del(key)) !== 1) return undefined;
    const stored = JSON.parse(value) as Stored;
    return {
      providerId: stored.providerId,
      organizationId: stored.organizationId,
      codeVerifier: this.box.open(stored.verifier, key),
      nonce: stored.nonce,
      redirectUri: stored.redirectUri,
    };
  }
}

const keyOf = (state: string): string => `oauth:state:${hashToken(state)}`;
