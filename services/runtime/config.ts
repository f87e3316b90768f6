/**
 * Configuration: read from the environment once, at start, validated as a whole so that a
 * misconfigured deployment reports every bad variable in one go instead of failing on the first.
 */

import { randomBytes } from "node:crypto";

export const SERVICE_NAMES = ["identity", "authz", "vision", "attendance", "audit"] as const;
export type ServiceName = (typeof SERVICE_NAMES)[number];

export interface Config {
  /** Interface the gRPC, admin and gateway servers bind to. */
  host: string;
  grpcPort: number;
  /** /metrics, /healthz, /readyz. */
  adminPort: number;
  gatewayPort: number;
  /** Unset: embedded PGlite in `dataDir`. */
  databaseUrl: string | undefined;
  /** Unset: in-process cache. */
  redisUrl: string | undefined;
  /** Unset: in-process bus. */
  natsUrl: string | undefined;
  /** Prefix of every NATS subject and stream; lets several deployments share one NATS. */
  busNamespace: string;
  /** Prefix of every Redis key; lets several deployments (or test runs) share one Redis. */
  cachePrefix: string;
  dataDir: string;
  logLevel: string;
  maxMessageBytes: number;
  /** Peers whose x-forwarded-for is believed (the gateway); loopback always is. */
  trustedProxies: string[];
  shutdownGraceMs: number;
  /** How often every service sends its heartbeat (HEALTH); audit reports a component DOWN after 3 missed. */
  heartbeatIntervalMs: number;
  jwt: { issuer: string; audience: string; jwksUrl: string | undefined; jwksCacheMs: number };
  /** Where each service is reached by the others (host:port). */
  addresses: Record<ServiceName, string>;
  /**
   * Shared by the mesh's services to get service tokens from identity (IssueServiceToken).
   * Unset: a random one for this process, which serves only the all-in-one mode.
   */
  serviceSecret: string;
  mesh: MeshConfig;
  identity: IdentityConfig;
}

export const MESH_TRANSPORTS = ["mtls", "plaintext"] as const;
export type MeshTransportKind = (typeof MESH_TRANSPORTS)[number];

/** How services talk to each other: mutual TLS in a cluster, plaintext only for development. */
export interface MeshConfig {
  transport: MeshTransportKind;
  /** cert-manager's Secret layout: tls.crt, tls.key (this service) and ca.crt (the mesh CA). */
  tlsDir: string;
  /** How often the files are re-read, so a rotated certificate is used without a restart. */
  tlsRefreshMs: number;
}

export interface IdentityConfig {
  /** 32 bytes (base64) for AES-256-GCM of secrets at rest; unset: a key file in dataDir is made. */
  encryptionKey: string | undefined;
  accessTokenTtlSec: number;
  refreshTokenTtlSec: number;
  deviceTokenTtlSec: number;
  /** A signing key signs for this long, then stays published until its tokens have expired. */
  keyRotationSec: number;
  argon2: { memoryKiB: number; timeCost: number; parallelism: number };
  /** Days an organisation stays PENDING_DEACTIVATION before its data is deleted. */
  deletionGraceDays: number;
  /** How often the deletion job looks for organisations past their grace period. */
  deletionCheckIntervalSec: number;
  /** Failed logins allowed before the lockout starts doubling, per account. */
  lockoutThreshold: number;
  /** The same per client IP; higher, since many people may share one address (NAT, office). */
  lockoutIpThreshold: number;
  lockoutMaxSec: number;
  /** smtp://user:pass@host:port; unset: mail is written to the log. */
  smtpUrl: string | undefined;
  mailFrom: string;
  /** Base URL of links in mails (verification, reset). */
  publicUrl: string;
  bootstrap: { organizationCode: string; adminEmail: string | undefined; adminPassword: string | undefined };
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  - ${problems.join("\n  - ")}`);
    this.name = "ConfigError";
  }
}

type Env = Record<string, string | undefined>;

const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"];

/**
 * Collects problems instead of throwing, so a configuration loader can report all of them at
 * once (`check()` throws them together). Every service's own settings are read with it too.
 */
export class EnvReader {
  readonly problems: string[] = [];
  constructor(private readonly env: Env) {}

  /** Throws a ConfigError naming every bad setting read so far. */
  check(): void {
    if (this.problems.length > 0) throw new ConfigError(this.problems);
  }

  string(name: string, fallback: string): string {
    const raw = this.env[name]?.trim();
    return raw ? raw : fallback;
  }

  optional(name: string): string | undefined {
    const raw = this.env[name]?.trim();
    return raw ? raw : undefined;
  }

  integer(name: string, fallback: number, min: number, max: number): number {
    const raw = this.env[name]?.trim();
    if (!raw) return fallback;
    const value = Number(raw);
    if (!Number.isInteger(value) || value < min || value > max) {
      this.problems.push(`${name}=${JSON.stringify(raw)} must be a whole number from ${min} to ${max}`);
      return fallback;
    }
    return value;
  }

  number(name: string, fallback: number, min: number, max: number): number {
    const raw = this.env[name]?.trim();
    if (!raw) return fallback;
    const value = Number(raw);
    if (!Number.isFinite(value) || value < min || value > max) {
      this.problems.push(`${name}=${JSON.stringify(raw)} must be a number from ${min} to ${max}`);
      return fallback;
    }
    return value;
  }

  port(name: string, fallback: number): number {
    // 0 asks the OS for a free port (tests, several meshes on one machine).
    return this.integer(name, fallback, 0, 65535);
  }

  url(name: string, protocols: string[]): string | undefined {
    const raw = this.optional(name);
    if (raw === undefined) return undefined;
    try {
      const parsed = new URL(raw);
      if (!protocols.includes(parsed.protocol)) {
        this.problems.push(`${name} must use ${protocols.join(" or ")} (got ${parsed.protocol})`);
      }
    } catch {
      this.problems.push(`${name} is not a valid URL (expected e.g. ${protocols[0]}//host:port)`);
    }
    return raw;
  }

  oneOf(name: string, fallback: string, allowed: string[]): string {
    const value = this.string(name, fallback);
    if (!allowed.includes(value)) this.problems.push(`${name}=${value} must be one of ${allowed.join(", ")}`);
    return value;
  }

  address(name: string, fallback: string): string {
    const value = this.string(name, fallback);
    if (!/^[\w.-]+:\d{1,5}$|^dns:|^ipv[46]:|^unix:/.test(value)) {
      this.problems.push(`${name}=${value} must be host:port (or a grpc target such as dns:///svc:50051)`);
    }
    return value;
  }
}

function meshConfig(read: EnvReader, host: string): MeshConfig {
  const explicit = read.optional("ROLLCALL_MESH_TRANSPORT");
  // Listening beyond this machine without TLS must be asked for by name, never a default.
  const loopbackOnly = ["127.0.0.1", "::1", "localhost"].includes(host);
  if (explicit === undefined && !loopbackOnly) {
    read.problems.push(`ROLLCALL_MESH_TRANSPORT must be set when ROLLCALL_HOST=${host} is not loopback: mtls (certificates in ROLLCALL_TLS_DIR) or plaintext (development only)`);
  }
  return {
    transport: read.oneOf("ROLLCALL_MESH_TRANSPORT", "plaintext", [...MESH_TRANSPORTS]) as MeshTransportKind,
    tlsDir: read.string("ROLLCALL_TLS_DIR", "/etc/rollcall/tls"),
    tlsRefreshMs: read.integer("ROLLCALL_TLS_REFRESH_MS", 60_000, 100, 24 * 3_600_000),
  };
}

export function loadConfig(env: Env = process.env): Config {
  const read = new EnvReader(env);
  const host = read.string("ROLLCALL_HOST", "127.0.0.1");
  const grpcPort = read.port("ROLLCALL_GRPC_PORT", 50051);
  const localGrpc = `${host === "0.0.0.0" ? "127.0.0.1" : host}:${grpcPort}`;
  const namespace = read.string("ROLLCALL_BUS_NAMESPACE", "rollcall");
  if (!/^[a-z][a-z0-9_]{0,31}$/.test(namespace)) {
    read.problems.push(`ROLLCALL_BUS_NAMESPACE=${namespace} must be lower-case letters, digits or _ (max 32), starting with a letter`);
  }
  const addresses = Object.fromEntries(
    SERVICE_NAMES.map((name) => [name, read.address(`ROLLCALL_${name.toUpperCase()}_ADDR`, localGrpc)]),
  ) as Record<ServiceName, string>;

  const config: Config = {
    host,
    grpcPort,
    adminPort: read.port("ROLLCALL_ADMIN_PORT", 9464),
    gatewayPort: read.port("ROLLCALL_GATEWAY_PORT", 8080),
    databaseUrl: read.url("DATABASE_URL", ["postgres:", "postgresql:"]),
    redisUrl: read.url("REDIS_URL", ["redis:", "rediss:"]),
    natsUrl: read.url("NATS_URL", ["nats:", "tls:"]),
    busNamespace: namespace,
    cachePrefix: read.string("ROLLCALL_CACHE_PREFIX", "rollcall:"),
    dataDir: read.string("ROLLCALL_DATA_DIR", "data"),
    logLevel: read.oneOf("LOG_LEVEL", "info", LOG_LEVELS),
    maxMessageBytes: read.integer("ROLLCALL_MAX_MESSAGE_BYTES", 16 * 1024 * 1024, 64 * 1024, 256 * 1024 * 1024),
    trustedProxies: ["127.0.0.1", "::1", ...(read.optional("ROLLCALL_TRUSTED_PROXIES") ?? "").split(",").map((p) => p.trim()).filter(Boolean)],
    shutdownGraceMs: read.integer("ROLLCALL_SHUTDOWN_GRACE_MS", 10_000, 0, 600_000),
    heartbeatIntervalMs: read.integer("ROLLCALL_HEARTBEAT_INTERVAL_MS", 10_000, 100, 3_600_000),
    jwt: {
      issuer: read.string("ROLLCALL_JWT_ISSUER", "rollcall"),
      audience: read.string("ROLLCALL_JWT_AUDIENCE", "rollcall"),
      jwksUrl: read.url("ROLLCALL_JWKS_URL", ["http:", "https:"]),
      jwksCacheMs: read.integer("ROLLCALL_JWKS_CACHE_MS", 5 * 60_000, 1_000, 24 * 3_600_000),
    },
    addresses,
    mesh: meshConfig(read, host),
    serviceSecret: read.optional("ROLLCALL_SERVICE_SECRET") ?? randomBytes(32).toString("base64url"),
    identity: {
      encryptionKey: read.optional("ROLLCALL_ENCRYPTION_KEY"),
      accessTokenTtlSec: read.integer("ROLLCALL_ACCESS_TOKEN_TTL_SEC", 15 * 60, 30, 24 * 3600),
      refreshTokenTtlSec: read.integer("ROLLCALL_REFRESH_TOKEN_TTL_SEC", 7 * 24 * 3600, 60, 90 * 24 * 3600),
      deviceTokenTtlSec: read.integer("ROLLCALL_DEVICE_TOKEN_TTL_SEC", 15 * 60, 30, 24 * 3600),
      keyRotationSec: read.integer("ROLLCALL_KEY_ROTATION_SEC", 30 * 24 * 3600, 60, 365 * 24 * 3600),
      argon2: {
        // OWASP's minimum for argon2id: m=19 MiB, t=2, p=1.
        memoryKiB: read.integer("ROLLCALL_ARGON2_MEMORY_KIB", 19_456, 19_456, 4 * 1024 * 1024),
        timeCost: read.integer("ROLLCALL_ARGON2_TIME_COST", 2, 2, 20),
        parallelism: read.integer("ROLLCALL_ARGON2_PARALLELISM", 1, 1, 16),
      },
      deletionGraceDays: read.integer("ROLLCALL_DELETION_GRACE_DAYS", 30, 0, 3650),
      deletionCheckIntervalSec: read.integer("ROLLCALL_DELETION_CHECK_INTERVAL_SEC", 3600, 1, 7 * 24 * 3600),
      lockoutThreshold: read.integer("ROLLCALL_LOCKOUT_THRESHOLD", 5, 1, 1000),
      lockoutIpThreshold: read.integer("ROLLCALL_LOCKOUT_IP_THRESHOLD", 50, 1, 100_000),
      lockoutMaxSec: read.integer("ROLLCALL_LOCKOUT_MAX_SEC", 15 * 60, 1, 24 * 3600),
      smtpUrl: read.url("ROLLCALL_SMTP_URL", ["smtp:", "smtps:"]),
      mailFrom: read.string("ROLLCALL_MAIL_FROM", "Rollcall <no-reply@rollcall.local>"),
      publicUrl: read.string("ROLLCALL_PUBLIC_URL", `http://${host === "0.0.0.0" ? "127.0.0.1" : host}:8080`),
      bootstrap: {
        organizationCode: read.string("ROLLCALL_BOOTSTRAP_ORG", "default"),
        adminEmail: read.optional("ROLLCALL_BOOTSTRAP_ADMIN_EMAIL"),
        adminPassword: read.optional("ROLLCALL_BOOTSTRAP_ADMIN_PASSWORD"),
      },
    },
  };
  const key = config.identity.encryptionKey;
  if (key !== undefined && Buffer.from(key, "base64").length !== 32) {
    read.problems.push("ROLLCALL_ENCRYPTION_KEY must be 32 bytes, base64-encoded (e.g. `openssl rand -base64 32`)");
  }
  if (config.serviceSecret.length < 32 || config.serviceSecret.length > 256) {
    read.problems.push("ROLLCALL_SERVICE_SECRET must be 32–256 characters (e.g. `openssl rand -base64 32`)");
  }
  if (read.problems.length > 0) throw new ConfigError(read.problems);
  return config;
}
