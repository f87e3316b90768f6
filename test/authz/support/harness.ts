import { randomUUID } from "node:crypto";
import { Metadata } from "@grpc/grpc-js";
import { SignJWT } from "jose";
import { AuthzAdminService } from "../../../gen/rollcall/authz/v1/admin_pb.js";
import { AuthzService } from "../../../gen/rollcall/authz/v1/authz_pb.js";
import { authzModule, createAuthzModule } from "../../../services/authz/module.js";
import { AdminHttpServer } from "../../../services/runtime/admin-http.js";
import { Authenticator } from "../../../services/runtime/auth/authenticator.js";
import type { Caller } from "../../../services/runtime/auth/caller.js";
import { TokenVerifier, remoteKeySet } from "../../../services/runtime/auth/token-verifier.js";
import { RemoteAuthorizer } from "../../../services/runtime/authz/remote-authorizer.js";
import type { Bus } from "../../../services/runtime/bus/bus.js";
import { createCache } from "../../../services/runtime/cache/cache.js";
import { loadConfig } from "../../../services/runtime/config.js";
import type { Database } from "../../../services/runtime/db/index.js";
import { createClient } from "../../../services/runtime/grpc/client.js";
import type { CallContext } from "../../../services/runtime/grpc/context.js";
import { RpcServer } from "../../../services/runtime/grpc/server.js";
import { createLogger } from "../../../services/runtime/logger.js";
import { MeshClients } from "../../../services/runtime/mesh-clients.js";
import { Metrics } from "../../../services/runtime/metrics.js";
import { openTestBus, type TestBus } from "../../support/bus.js";
import { openTestDatabase, type TestDatabase } from "../../support/database.js";
import { newSigner, serveJwks, signToken, type TestSigner } from "../../support/tokens.js";

const logger = createLogger(process.env.LOG_LEVEL ?? "silent");

/** One authz replica: the real module on a real gRPC server, as the host starts it. */
export interface AuthzReplica {
  target: string;
  /** The client other services use, on this replica, subscribed to the shared bus. */
  authorizer: RemoteAuthorizer;
  stop(): Promise<void>;
}

/** Timings of the caches' fallbacks when a PolicyChanged message is lost (defaults: 500 ms each). */
export interface Fallbacks {
  /** The authz service's poll of revisions. */
  pollMs?: number;
  /** The RemoteAuthorizer's decision lifetime. */
  ttlMs?: number;
}

export async function startReplica(db: Database, bus: Bus, jwksUrl: string, fallbacks: Fallbacks = {}): Promise<AuthzReplica> {
  const metrics = new Metrics();
  const verifier = new TokenVerifier({ issuer: "rollcall", audience: "rollcall", keys: remoteKeySet(jwksUrl, 60_000) });
  const server = new RpcServer({ logger, metrics, authenticator: new Authenticator(verifier), maxMessageBytes: 4 << 20 });
  const port = await server.listen("127.0.0.1", 0);
  const target = `127.0.0.1:${port}`;
  const config = loadConfig({ ROLLCALL_JWKS_URL: jwksUrl, ROLLCALL_AUTHZ_ADDR: target });
  const clients = new MeshClients(config.addresses);
  const authorizer = new RemoteAuthorizer(clients, { bus, logger, ttlMs: fallbacks.ttlMs });
  const cache = createCache({ logger });
  const started = await createAuthzModule({ pollMs: fallbacks.pollMs }).start({
    config, logger, metrics, db, cache, bus, server, clients, authz: authorizer, admin: new AdminHttpServer(metrics, logger),
  });
  server.markReady();
  return {
    target,
    authorizer,
    async stop() {
      await server.shutdown(1000);
      await started.stop();
      authorizer.close();
      clients.close();
      await cache.close();
    },
  };
}

/** A database, a bus and a JWKS shared by one or more replicas, with clients per token. */
export class AuthzWorld {
  private constructor(
    readonly database: TestDatabase,
    readonly testBus: TestBus,
    readonly signer: TestSigner,
    private readonly jwks: { url: string; close(): Promise<void> },
    readonly replicas: AuthzReplica[],
  ) {}

  static async open(replicaCount = 1, fallbacks: Fallbacks = {}): Promise<AuthzWorld> {
    const database = await openTestDatabase();
    const testBus = await openTestBus();
    const signer = await newSigner();
    const jwks = await serveJwks([signer.publicJwk]);
    await database.db.migrate("authz", authzModule.migrations);
    const replicas: AuthzReplica[] = [];
    for (let i = 0; i < replicaCount; i++) replicas.push(await startReplica(database.db, testBus.bus, jwks.url, fallbacks));
    return new AuthzWorld(database, testBus, signer, jwks, replicas);
  }

  get db(): Database {
    return this.database.db;
  }

  async close(): Promise<void> {
    for (const replica of this.replicas) await replica.stop();
    await this.jwks.close();
    await this.testBus.cleanup();
    await this.database.drop();
  }

  /** A signed-in principal with typed clients of replica `at`. */
  async as(who: Principal, at = 0): Promise<Session> {
    const token = who.staff || who.organizationId === undefined
      ? await platformToken(this.signer, who)
      : await signToken(this.signer, { typ: who.kind, sub: who.subject, org: who.organizationId, roles: [] });
    return sessionOf(who, token, this.replicas[at]!.target);
  }

  /** A Rollcall service (platform caller), with a token bound to no organisation. */
  service(name = "identity", at = 0): Promise<Session> {
    return this.as({ kind: "service", subject: name }, at);
  }
}

export interface Principal {
  kind: "user" | "device" | "service";
  subject: string;
  /** Undefined only for services. */
  organizationId?: string;
  staff?: boolean;
}

export type Session = ReturnType<typeof sessionOf>;

function sessionOf(who: Principal, token: string, target: string) {
  const options = { bearer: () => token };
  return {
    who,
    token,
    decisions: createClient(AuthzService, target, options),
    admin: createClient(AuthzAdminService, target, options),
    /** A handler's context for this principal, to call an Authorizer with. */
    context(): CallContext {
      const metadata = new Metadata();
      metadata.set("authorization", `Bearer ${token}`);
      const caller: Caller = {
        kind: who.kind, subject: who.subject, organizationId: who.organizationId, sessionId: undefined, roles: [],
        platformStaff: who.staff ?? false, tokenId: randomUUID(), expiresAt: new Date(Date.now() + 600_000),
      };
      return {
        method: AuthzService.method.check, path: "/test", requestId: randomUUID(), metadata, peer: "test", client: { ip: "127.0.0.1", userAgent: "" }, caller,
        deadline: undefined, signal: new AbortController().signal, logger,
      };
    },
  };
}

/**
 * Tokens test/support/tokens.ts cannot sign: a service's without an organisation, and a
 * platform operator's with the `staff` claim.
 */
async function platformToken(signer: TestSigner, who: Principal): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ typ: who.kind, org: who.organizationId, roles: [], staff: who.staff })
    .setProtectedHeader({ alg: "EdDSA", kid: signer.kid })
    .setSubject(who.subject)
    .setIssuer("rollcall")
    .setAudience("rollcall")
    .setJti(randomUUID())
    .setIssuedAt(now)
    .setExpirationTime(now + 900)
    .sign(signer.privateKey);
}
