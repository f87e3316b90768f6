import { Redis, ReplyError } from "ioredis";
import { unavailable } from "../errors.js";
import type { Logger } from "../logger.js";
import type { Cache } from "./cache.js";
import { checkTtl } from "./ttl.js";

export interface RedisCacheOptions {
  url: string;
  keyPrefix?: string;
  logger: Logger;
  /** How long one command may take before it fails (also bounds a hung connection). */
  commandTimeoutMs?: number;
}

export class RedisCache implements Cache {
  private readonly client: Redis;
  private readonly endpoint: string;
  private readonly logger: Logger;
  private connectionLost = false;

  constructor(options: RedisCacheOptions) {
    this.logger = options.logger;
    this.endpoint = describeEndpoint(options.url);
    const commandTimeoutMs = options.commandTimeoutMs ?? 2_000;
    this.client = new Redis(options.url, {
      keyPrefix: options.keyPrefix,
      lazyConnect: true,
      connectTimeout: commandTimeoutMs,
      commandTimeout: commandTimeoutMs,
      // A cache must never stall a request. The offline queue stays on so the first commands can
      // ride the initial (lazy) connect; with no retries per request, a queued command fails as
      // soon as a connection attempt fails, so while Redis is away callers wait at most one
      // reconnect interval (≤ 1 s) for their error.
      enableOfflineQueue: true,
      maxRetriesPerRequest: 0,
      retryStrategy: (attempt) => Math.min(attempt * 100, 1_000),
    });
    this.client.on("error", (err: Error) => {
      if (this.connectionLost) return this.logger.debug({ err }, "Redis still unreachable");
      this.connectionLost = true;
      this.logger.warn({ err, redis: this.endpoint }, "Redis connection lost; reconnecting in the background");
    });
    this.client.on("ready", () => {
      if (this.connectionLost) this.logger.info({ redis: this.endpoint }, "Redis connection restored");
      this.connectionLost = false;
    });
  }

  get(key: string): Promise<string | null> {
    return this.run("GET", () => this.client.get(key));
  }

  async mget(...keys: string[]): Promise<(string | null)[]> {
    if (keys.length === 0) return [];
    return this.run("MGET", () => this.client.mget(keys));
  }

  async set(key: string, value: string, ttlMs?: number): Promise<void> {
    const ttl = ttlMs === undefined ? undefined : checkTtl(ttlMs);
    await this.run("SET", () => (ttl === undefined ? this.client.set(key, value) : this.client.set(key, value, "PX", ttl)));
  }

  async setIfAbsent(key: string, value: string, ttlMs?: number): Promise<boolean> {
    const ttl = ttlMs === undefined ? undefined : checkTtl(ttlMs);
    const reply = await this.run("SET NX", () =>
      ttl === undefined ? this.client.set(key, value, "NX") : this.client.set(key, value, "PX", ttl, "NX"),
    );
    return reply === "OK";
  }

  async del(...keys: string[]): Promise<number> {
    if (keys.length === 0) return 0;
    return this.run("DEL", () => this.client.del(...keys));
  }

  async exists(key: string): Promise<boolean> {
    return (await this.run("EXISTS", () => this.client.exists(key))) === 1;
  }

  async incr(key: string, ttlMs?: number): Promise<number> {
    if (ttlMs === undefined) return this.run("INCR", () => this.client.incr(key));
    const ttl = checkTtl(ttlMs);
    // SET NX creates the key at 0 with its ttl; INCR keeps an existing ttl. MULTI makes the pair atomic.
    const results = await this.run("INCR", () => this.client.multi().set(key, "0", "PX", ttl, "NX").incr(key).exec());
    const [, incrResult] = results ?? [];
    if (!incrResult) throw unavailable(`Redis at ${this.endpoint} aborted the INCR transaction`);
    const [err, value] = incrResult;
    if (err) throw err;
    return value as number;
  }

  pttl(key: string): Promise<number> {
    return this.run("PTTL", () => this.client.pttl(key));
  }

  async expire(key: string, ttlMs: number): Promise<boolean> {
    const ttl = checkTtl(ttlMs);
    return (await this.run("PEXPIRE", () => this.client.pexpire(key, ttl))) === 1;
  }

  async ping(): Promise<void> {
    await this.run("PING", () => this.client.ping());
  }

  async close(): Promise<void> {
    if (this.client.status === "ready") {
      try {
        await this.client.quit();
        return;
      } catch {
        // fall through: the connection is going away anyway
      }
    }
    this.client.disconnect();
  }

  /** Redis replies (WRONGTYPE, not an integer…) are caller bugs and pass through; anything else means Redis is unreachable. */
  private async run<T>(command: string, send: () => Promise<T>): Promise<T> {
    try {
      return await send();
    } catch (err) {
      if (err instanceof ReplyError) throw err;
      const reason =
        (err as Error).name === "MaxRetriesPerRequestError"
          ? `not connected; ${command} was not sent`
          : `${command} failed: ${(err as Error).message}`;
      throw unavailable(`Redis at ${this.endpoint} is unavailable (${reason})`);
    }
  }
}

/** host:port for messages; never the URL, which may carry a password. */
function describeEndpoint(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.hostname}:${parsed.port || "6379"}`;
  } catch {
    return "the configured address";
  }
}
