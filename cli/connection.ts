import type { DescService } from "@bufbuild/protobuf";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { status } from "@grpc/grpc-js";
import { decodeJwt } from "jose";
import { SERVICE_NAMES, type ServiceName } from "../services/runtime/config.js";
import { AppError } from "../services/runtime/errors.js";
import type { RpcClient } from "../services/runtime/grpc/client.js";
import { MeshClients } from "../services/runtime/mesh-clients.js";
import { AuthService } from "../gen/rollcall/identity/v1/auth_pb.js";
import { configPath, readSession, writeSession, type SavedSession } from "./config-file.js";
import { usageError } from "./exit-codes.js";

export const DEFAULT_ADDR = "127.0.0.1:50051";
const DEFAULT_TIMEOUT_SEC = 30;
/** Refresh this long before the access token expires, so a call never starts with a dying token. */
const REFRESH_MARGIN_MS = 30_000;

/** Options every command accepts (set on the root program). */
export interface GlobalOptions {
  addr?: string;
  token?: string;
  json?: boolean;
  timeout?: string;
}

export interface Caller {
  userId: string;
  organizationId: string;
}

/**
 * How a command reaches the mesh: one address (every service listens there in the all-in-one
 * mesh, or a gateway/ingress does), a bearer token from --token, ROLLCALL_TOKEN or the session
 * saved by `rollcall login`, refreshed with its refresh token when it has expired.
 */
export class Connection {
  readonly addr: string;
  readonly timeoutMs: number;
  readonly sessionFile: string;
  private readonly clients: MeshClients;
  /** For follow streams, which run until Ctrl-C: no deadline. */
  private readonly streams: MeshClients;
  private readonly fixedToken: string | undefined;
  private refreshing: Promise<string> | undefined;

  private constructor(opts: GlobalOptions, env: NodeJS.ProcessEnv, private session: SavedSession | undefined) {
    this.addr = opts.addr || env.ROLLCALL_ADDR || session?.addr || DEFAULT_ADDR;
    this.timeoutMs = timeoutOf(opts.timeout ?? env.ROLLCALL_TIMEOUT);
    this.sessionFile = configPath(env);
    this.fixedToken = opts.token || env.ROLLCALL_TOKEN || undefined;
    const addresses = Object.fromEntries(SERVICE_NAMES.map((name) => [name, this.addr])) as Record<ServiceName, string>;
    this.clients = new MeshClients(addresses, { defaultTimeoutMs: this.timeoutMs, bearer: () => this.token() });
    this.streams = new MeshClients(addresses, { bearer: () => this.token() });
  }

  static async open(opts: GlobalOptions, env: NodeJS.ProcessEnv = process.env): Promise<Connection> {
    return new Connection(opts, env, await readSession(configPath(env)));
  }

  client<S extends DescService>(service: S): RpcClient<S> {
    return this.clients.get(service);
  }

  /** A client whose calls have no deadline unless given one (long-lived follow streams). */
  streamClient<S extends DescService>(service: S): RpcClient<S> {
    return this.streams.get(service);
  }

  /** The bearer token for the next call, refreshing a saved session that has (nearly) expired. */
  async token(): Promise<string | undefined> {
    if (this.fixedToken) return this.fixedToken;
    const session = this.session;
    if (!session) return undefined;
    if (Date.parse(session.accessExpiresAt) - REFRESH_MARGIN_MS > Date.now()) return session.accessToken;
    this.refreshing ??= this.refresh(session).finally(() => (this.refreshing = undefined));
    return this.refreshing;
  }

  /** Who the token belongs to (read from its claims; the server verifies it on every call). */
  async caller(): Promise<Caller> {
    const token = await this.token();
    if (!token) throw new AppError(status.UNAUTHENTICATED, "not logged in");
    let claims: ReturnType<typeof decodeJwt>;
    try {
      claims = decodeJwt(token);
    } catch {
      throw usageError("the access token is not a JWT; check --token / ROLLCALL_TOKEN");
    }
    if (typeof claims.sub !== "string" || typeof claims.org !== "string") {
      throw usageError("the access token has no sub/org claims; it is not a Rollcall user token");
    }
    return { userId: claims.sub, organizationId: claims.org };
  }

  close(): void {
    this.clients.close();
    this.streams.close();
  }

  private async refresh(session: SavedSession): Promise<string> {
    if (Date.parse(session.refreshExpiresAt) <= Date.now()) {
      throw new AppError(status.UNAUTHENTICATED, `the session of ${session.login} expired`);
    }
    let answer;
    try {
      // The public Refresh call must not carry the expired token.
      answer = await this.client(AuthService).refresh({ refreshToken: session.refreshToken }, { bearer: "" });
    } catch (err) {
      if (err instanceof AppError && err.code === status.UNAUTHENTICATED) {
        throw new AppError(status.UNAUTHENTICATED, `the session of ${session.login} could not be refreshed: ${err.message}`);
      }
      throw err;
    }
    const tokens = answer.tokens!;
    this.session = { ...session, ...sessionTokens(tokens) };
    await writeSession(this.sessionFile, this.session);
    return this.session.accessToken;
  }
}

export function sessionTokens(tokens: { accessToken: string; refreshToken: string; accessExpiresAt?: Parameters<typeof timestampDate>[0]; refreshExpiresAt?: Parameters<typeof timestampDate>[0] }) {
  return {
    accessToken: tokens.accessToken,
    accessExpiresAt: tokens.accessExpiresAt ? timestampDate(tokens.accessExpiresAt).toISOString() : new Date(0).toISOString(),
    refreshToken: tokens.refreshToken,
    refreshExpiresAt: tokens.refreshExpiresAt ? timestampDate(tokens.refreshExpiresAt).toISOString() : new Date(0).toISOString(),
  };
}

function timeoutOf(value: string | undefined): number {
  if (value === undefined || value === "") return DEFAULT_TIMEOUT_SEC * 1000;
  const seconds = Number(value);
  if (!Number.isFinite(seconds) || seconds <= 0) throw usageError(`--timeout: must be a positive number of seconds (got "${value}")`);
  return seconds * 1000;
}
