import type { DescService } from "@bufbuild/protobuf";
import type { Config, ServiceName } from "./config.js";
import type { Logger } from "./logger.js";
import type { Metrics } from "./metrics.js";
import type { Database, Migration } from "./db/index.js";
import type { Cache } from "./cache/cache.js";
import type { Bus } from "./bus/bus.js";
import type { RpcServer } from "./grpc/server.js";
import type { AdminHttpServer } from "./admin-http.js";
import type { MeshClients } from "./mesh-clients.js";
import type { Authorizer } from "./authz/authorizer.js";

/** Everything a service gets from the process that hosts it. */
export interface ServiceDeps {
  config: Config;
  logger: Logger;
  metrics: Metrics;
  db: Database;
  cache: Cache;
  bus: Bus;
  server: RpcServer;
  admin: AdminHttpServer;
  clients: MeshClients;
  /** Asks the authz service before acting: `await authz.authorize(ctx, "users", "read", ownerId)`. */
  authz: Authorizer;
}

export interface StartedService {
  /**
   * Work that needs the rest of the mesh serving (identity's first-run bootstrap needs authz);
   * the host awaits it once every service is registered and the server reports SERVING.
   */
  ready?: Promise<void>;
  /** Stops background work (consumers, schedulers); the host closes shared resources after. */
  stop(): Promise<void>;
}

/** A Rollcall service as the host sees it: its contracts, its schema, and how to start it. */
export interface ServiceModule {
  readonly name: ServiceName;
  /** The gRPC services it serves (the gateway exposes them; the status table lists them). */
  readonly services: readonly DescService[];
  /** Applied to the Postgres schema named after the service, in order, at start. */
  readonly migrations: readonly Migration[];
  start(deps: ServiceDeps): Promise<StartedService>;
}
