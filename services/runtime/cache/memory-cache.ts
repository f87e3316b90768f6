import type { Cache } from "./cache.js";
import { checkTtl } from "./ttl.js";

interface Entry {
  value: string;
  /** Epoch ms; absent when the key never expires. */
  expiresAt?: number;
}

export interface MemoryCacheOptions {
  /** How often expired keys that nobody reads again are purged. */
  sweepIntervalMs?: number;
}

/** The in-process Cache: a Map with Redis's expiry and INCR semantics. */
export class MemoryCache implements Cache {
  private readonly entries = new Map<string, Entry>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(options: MemoryCacheOptions = {}) {
    this.sweeper = setInterval(() => this.sweep(), options.sweepIntervalMs ?? 30_000);
    this.sweeper.unref();
  }

  /** Keys held, including expired ones not yet purged. */
  get size(): number {
    return this.entries.size;
  }

  async get(key: string): Promise<string | null> {
    return this.live(key)?.value ?? null;
  }

  async mget(...keys: string[]): Promise<(string | null)[]> {
    return keys.map((key) => this.live(key)?.value ?? null);
  }

  async set(key: string, value: string, ttlMs?: number): Promise<void> {
    this.entries.set(key, { value, expiresAt: expiryFor(ttlMs) });
  }

  async setIfAbsent(key: string, value: string, ttlMs?: number): Promise<boolean> {
    const expiresAt = expiryFor(ttlMs);
    if (this.live(key)) return false;
    this.entries.set(key, { value, expiresAt });
    return true;
  }

  async del(...keys: string[]): Promise<number> {
    let deleted = 0;
    for (const key of keys) if (this.live(key) && this.entries.delete(key)) deleted++;
    return deleted;
  }

  async exists(key: string): Promise<boolean> {
    return this.live(key) !== undefined;
  }

  async incr(key: string, ttlMs?: number): Promise<number> {
    const expiresAtIfCreated = expiryFor(ttlMs);
    const entry = this.live(key);
    if (!entry) {
      this.entries.set(key, { value: "1", expiresAt: expiresAtIfCreated });
      return 1;
    }
    if (!/^-?\d+$/.test(entry.value) || !Number.isSafeInteger(Number(entry.value))) {
      throw new Error("ERR value is not an integer or out of range");
    }
    const next = Number(entry.value) + 1;
    entry.value = String(next);
    return next;
  }

  async pttl(key: string): Promise<number> {
    const entry = this.live(key);
    if (!entry) return -2;
    if (entry.expiresAt === undefined) return -1;
    return entry.expiresAt - Date.now();
  }

  async expire(key: string, ttlMs: number): Promise<boolean> {
    const expiresAt = expiryFor(ttlMs);
    const entry = this.live(key);
    if (!entry) return false;
    entry.expiresAt = expiresAt;
    return true;
  }

  async ping(): Promise<void> {}

  async close(): Promise<void> {
    clearInterval(this.sweeper);
    this.entries.clear();
  }

  /** The entry if present and unexpired; an expired one is purged on the spot. */
  private live(key: string): Entry | undefined {
    const entry = this.entries.get(key);
    if (entry?.expiresAt !== undefined && entry.expiresAt <= Date.now()) {
      this.entries.delete(key);
      return undefined;
    }
    return entry;
  }

  private sweep(): void {
    const now = Date.now();
    for (const [key, entry] of this.entries) {
      if (entry.expiresAt !== undefined && entry.expiresAt <= now) this.entries.delete(key);
    }
  }
}

function expiryFor(ttlMs: number | undefined): number | undefined {
  return ttlMs === undefined ? undefined : Date.now() + checkTtl(ttlMs);
}
