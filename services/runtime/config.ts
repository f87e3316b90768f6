/**
 * Configuration: read from the environment once, at start, validated as a whole so that a
 * misconfigured deployment reports every bad variable in one go instead of failing on the first.
 */

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
  dataDir: string;
  logLevel: string;
  maxMessageBytes: number;
  shutdownGraceMs: number;
  jwt: { issuer: string; audience: string; jwksUrl: string | undefined; jwksCacheMs: number };
  /** Where each service is reached by the others (host:port). */
  addresses: Record<ServiceName, string>;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  - ${problems.join("\n  - ")}`);
    this.name = "ConfigError";
  }
}

type Env = Record<string, string | undefined>;

const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"];

/** Collects problems instead of throwing, so loadConfig can report all of them at once. */
class EnvReader {
  readonly problems: string[] = [];
  constructor(private readonly env: Env) {}

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
    dataDir: read.string("ROLLCALL_DATA_DIR", "data"),
    logLevel: read.oneOf("LOG_LEVEL", "info", LOG_LEVELS),
    maxMessageBytes: read.integer("ROLLCALL_MAX_MESSAGE_BYTES", 16 * 1024 * 1024, 64 * 1024, 256 * 1024 * 1024),
    shutdownGraceMs: read.integer("ROLLCALL_SHUTDOWN_GRACE_MS", 10_000, 0, 600_000),
    jwt: {
      issuer: read.string("ROLLCALL_JWT_ISSUER", "rollcall"),
      audience: read.string("ROLLCALL_JWT_AUDIENCE", "rollcall"),
      jwksUrl: read.url("ROLLCALL_JWKS_URL", ["http:", "https:"]),
      jwksCacheMs: read.integer("ROLLCALL_JWKS_CACHE_MS", 5 * 60_000, 1_000, 24 * 3_600_000),
    },
    addresses,
  };
  if (read.problems.length > 0) throw new ConfigError(read.problems);
  return config;
}
