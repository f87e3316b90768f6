import { mkdir } from "node:fs/promises";
import type { Config } from "./config.js";
import { createLogger, type Logger } from "./logger.js";
import { Metrics } from "./metrics.js";
import { openDatabase, startEmbeddedPostgres, type Database } from "./db/index.js";
import { createCache, type Cache } from "./cache/cache.js";
import { createBus, type Bus } from "./bus/bus.js";
import { RpcServer } from "./grpc/server.js";
import { AdminHttpServer } from "./admin-http.js";
import { Authenticator } from "./auth/authenticator.js";
import { TokenVerifier, remoteKeySet } from "./auth/token-verifier.js";
import { CacheRevocationList } from "./auth/revocation.js";
import { MeshClients } from "./mesh-clients.js";
import { meshTransport } from "./grpc/mesh-transport.js";
import { RemoteAuthorizer } from "./authz/remote-authorizer.js";
import type { ServiceModule, StartedService } from "./service-module.js";
import { Gateway } from "../gateway/gateway.js";
import { hostname } from "node:os";
import { HeartbeatPublisher } from "./heartbeat.js";
import { forwardingLogger, LogForwarder } from "./log-forwarder.js";

export interface HostOptions {
  /** Also serve the public Connect/gRPC-Web gateway (all-in-one, or a gateway-only pod). */
  gateway: boolean;
  logger?: Logger;
  /**
   * The services the gateway routes to (default: the ones hosted here). A gateway-only pod
   * hosts none and routes to all of them, at their configured addresses.
   */
  gatewayModules?: readonly ServiceModule[];
}

export interface RunningHost {
  grpcPort: number;
  adminPort: number;
  gatewayPort: number | undefined;
  server: RpcServer;
  db: Database;
  cache: Cache;
  bus: Bus;
  clients: MeshClients;
  stop(): Promise<void>;
}

/**
 * Starts one process of the mesh: shared resources, the services given, their gRPC server,
 * the admin HTTP server and optionally the gateway. Stopping reverses it: drain, stop
 * services, close resources.
 */
export async function startHost(config: Config, modules: readonly ServiceModule[], options: HostOptions): Promise<RunningHost> {
  const logger = options.logger ?? createLogger(config.logLevel);
  const metrics = new Metrics();
  const cleanup: (() => Promise<void> | void)[] = [];
  const closeAll = async () => {
    for (const step of cleanup.reverse()) await step();
  };
  try {
    let databaseUrl = config.databaseUrl;
    if (!databaseUrl) {
      await mkdir(config.dataDir, { recursive: true });
      const embedded = await startEmbeddedPostgres(`${config.dataDir}/pglite`);
      cleanup.push(() => embedded.stop());
      databaseUrl = embedded.url;
      logger.info({ dataDir: `${config.dataDir}/pglite` }, "no DATABASE_URL: using embedded Postgres (PGlite)");
    }
    const db = await openDatabase({ url: databaseUrl, logger, applicationName: `rollcall-${modules.map((m) => m.name).join("+")}` });
    cleanup.push(() => db.close());
    for (const module of modules) await db.migrate(module.name, module.migrations);

    const cache = createCache({ url: config.redisUrl, keyPrefix: config.cachePrefix, logger });
    cleanup.push(() => cache.close());
    const bus = await createBus({ url: config.natsUrl, namespace: config.busNamespace, logger, name: "rollcall" });
    cleanup.push(() => bus.close());
    if (!config.redisUrl) logger.info("no REDIS_URL: using the in-process cache");
    if (!config.natsUrl) logger.info("no NATS_URL: using the in-process bus");
    // Services' warn/error lines also go to the LOGS stream (audit's system_logs).
    const serviceLogger = forwardingLogger(logger, new LogForwarder(bus, { instance: `${hostname()}/${process.pid}`, fallbackService: modules.map((m) => m.name).join("+") || "host" }, logger));

    const admin = new AdminHttpServer(metrics, logger);
    admin.addReadinessCheck({ name: "postgres", check: () => db.ping() });
    admin.addReadinessCheck({ name: "cache", check: () => cache.ping() });
    admin.addReadinessCheck({ name: "bus", check: () => bus.ping() });
    // Ready only once every service has started (vision: models verified, indexes loaded), so
    // Kubernetes' startup and readiness probes on /readyz wait for it.
    let servicesUp = false;
    admin.addReadinessCheck({ name: "services", check: async () => { if (!servicesUp) throw new Error("starting"); } });
    const adminPort = await admin.listen(config.host, config.adminPort);
    cleanup.push(() => admin.close());

    const jwksUrl = config.jwt.jwksUrl ?? `http://${loopback(config.host)}:${adminPort}/.well-known/jwks.json`;
    const verifier = new TokenVerifier({
      issuer: config.jwt.issuer,
      audience: config.jwt.audience,
      keys: remoteKeySet(jwksUrl, config.jwt.jwksCacheMs),
      revocations: new CacheRevocationList(cache),
    });
    const transport = meshTransport(config.mesh);
    if (transport.kind === "mtls") logger.info({ identities: transport.identities, tlsDir: config.mesh.tlsDir }, "mesh: mutual TLS");
    else if (config.host !== "127.0.0.1") logger.warn("mesh: plaintext (ROLLCALL_MESH_TRANSPORT=plaintext): for development only");
    const server = new RpcServer({ logger, metrics, authenticator: new Authenticator(verifier), maxMessageBytes: config.maxMessageBytes, trustedProxies: config.trustedProxies, transport });
    const grpcPort = await server.listen(config.host, config.grpcPort);
    cleanup.push(async () => {
      admin.startDraining();
      await server.shutdown(config.shutdownGraceMs);
    });
    // Services hosted here are called here, on the port actually bound (it may have been 0).
    const addresses = { ...config.addresses };
    for (const module of modules) addresses[module.name] = `${loopback(config.host)}:${grpcPort}`;
    const clients = new MeshClients(addresses, {}, transport);
    cleanup.push(() => clients.close());

    const authz = new RemoteAuthorizer(clients, { bus, logger });
    cleanup.push(() => authz.close());

    const started: StartedService[] = [];
    cleanup.push(async () => {
      for (const service of started.reverse()) await service.stop();
    });
    for (const module of modules) {
      started.push(await module.start({ config, logger: serviceLogger.child({ service: module.name }), metrics, db, cache, bus, server, admin, clients, authz }));
    }
    server.markReady();
    if (modules.length > 0) {
      const heartbeat = new HeartbeatPublisher(bus, modules.map((m) => m.name), config.heartbeatIntervalMs, () => admin.readinessState(), logger);
      heartbeat.start();
      cleanup.push(() => heartbeat.stop());
    }
    await Promise.all(started.map((service) => service.ready));
    servicesUp = true;
    // On stop, drain calls in flight before services stop their background work.
    cleanup.push(async () => {
      admin.startDraining();
      await server.shutdown(config.shutdownGraceMs);
    });

    let gatewayPort: number | undefined;
    if (options.gateway) {
      const gateway = new Gateway({
        routes: (options.gatewayModules ?? modules).flatMap((m) => m.services.map((service) => ({ service, target: addresses[m.name] }))),
        transport,
        maxMessageBytes: config.maxMessageBytes,
        logger,
      });
      gatewayPort = await gateway.listen(config.host, config.gatewayPort);
      cleanup.push(() => gateway.close(config.shutdownGraceMs));
    }
    return { grpcPort, adminPort, gatewayPort, server, db, cache, bus, clients, stop: closeAll };
  } catch (err) {
    await closeAll().catch((closeErr) => logger.error({ err: closeErr }, "cleanup after a failed start failed"));
    throw err;
  }
}

/** The address to reach a server bound to `host` from this machine. */
function loopback(host: string): string {
  return host === "0.0.0.0" || host === "::" ? "127.0.0.1" : host;
}
