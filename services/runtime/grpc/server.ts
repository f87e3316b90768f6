import { Server, status, type UntypedServiceImplementation } from "@grpc/grpc-js";
import { HealthImplementation } from "grpc-health-check";
import type { DescFile, DescService } from "@bufbuild/protobuf";
import { AppError } from "../errors.js";
import type { Logger } from "../logger.js";
import type { Metrics } from "../metrics.js";
import type { Authenticator } from "../auth/authenticator.js";
import type { ServiceImpl } from "./context.js";
import { serviceDefinition } from "./codec.js";
import { grpcHandler } from "./method-handlers.js";
import { addReflection } from "./reflection.js";
import { PLAINTEXT, type MeshTransport } from "./mesh-transport.js";
import { PeerPolicy } from "./peer-identity.js";
import { SERVICE_NAMES } from "../config.js";

export interface RpcServerOptions {
  logger: Logger;
  metrics: Metrics;
  authenticator: Authenticator;
  maxMessageBytes: number;
  /** Peers whose x-forwarded-for is believed; default loopback (the gateway beside the services). */
  trustedProxies?: readonly string[];
  /** mTLS or plaintext (default: plaintext, for tests and the all-in-one development mode). */
  transport?: MeshTransport;
  /** Certificate identities of the mesh's own services, allowed on internal-only methods. */
  meshServices?: readonly string[];
}

export interface RegisterOptions<S extends DescService> {
  /** Methods callable without a token (by local name), e.g. login. */
  publicMethods?: (keyof S["method"] & string)[];
  /**
   * Methods only the mesh's own services may call (with mTLS, by their certificate), never
   * clients through the gateway, e.g. authz Check.
   */
  internalMethods?: (keyof S["method"] & string)[];
}

export interface MethodStatus {
  service: string;
  method: string;
  implemented: boolean;
  public: boolean;
}

/**
 * One gRPC server hosting one or more Rollcall services, with grpc.health.v1, reflection,
 * metrics and graceful shutdown. In Kubernetes a pod runs one service; `npm start` runs all.
 */
export class RpcServer {
  private readonly server: Server;
  private readonly health = new HealthImplementation({ "": "NOT_SERVING" });
  private readonly files = new Set<DescFile>();
  private readonly serviceNames: string[] = [];
  private readonly methods: MethodStatus[] = [];
  private readonly shutdownController = new AbortController();
  private port: number | undefined;
  private stopping: Promise<void> | undefined;

  private readonly transport: MeshTransport;
  private readonly peers: PeerPolicy;

  constructor(private readonly options: RpcServerOptions) {
    this.transport = options.transport ?? PLAINTEXT;
    this.peers = new PeerPolicy(this.transport.kind === "mtls", new Set(options.meshServices ?? SERVICE_NAMES));
    this.server = new Server({
      "grpc.max_receive_message_length": options.maxMessageBytes,
      "grpc.max_send_message_length": options.maxMessageBytes,
      // Notice dead peers behind NATs and load balancers; permit clients' keepalive pings.
      "grpc.keepalive_time_ms": 30_000,
      "grpc.keepalive_timeout_ms": 10_000,
      "grpc.keepalive_permit_without_calls": 1,
      "grpc.http2.min_ping_interval_without_data_ms": 10_000,
      // No channelz service is served, so its per-call bookkeeping (a tracker object, clock
      // reads) would be work nobody reads: off.
      "grpc.enable_channelz": 0,
    });
  }

  /** Who checks callers' tokens; also for tokens that arrive outside gRPC (NATS headers). */
  get authenticator(): Authenticator {
    return this.options.authenticator;
  }

  register<S extends DescService>(service: S, impl: ServiceImpl<S>, opts: RegisterOptions<S> = {}): this {
    const publicMethods = new Set<string>(opts.publicMethods ?? []);
    const pipeline = {
      authenticator: this.options.authenticator,
      metrics: this.options.metrics,
      logger: this.options.logger.child({ service: service.typeName }),
      shutdownSignal: this.shutdownController.signal,
      trustedProxies: new Set(this.options.trustedProxies ?? ["127.0.0.1", "::1"]),
      peers: this.peers,
    };
    const internalMethods = new Set<string>(opts.internalMethods ?? []);
    const handlers: UntypedServiceImplementation = {};
    for (const method of service.methods) {
      const fn = (impl as Record<string, unknown>)[method.localName] as never;
      const isPublic = publicMethods.has(method.localName);
      handlers[method.name] = grpcHandler(method, fn, isPublic, pipeline, internalMethods.has(method.localName));
      this.methods.push({ service: service.typeName, method: method.name, implemented: fn !== undefined, public: isPublic });
    }
    this.server.addService(serviceDefinition(service), handlers);
    this.files.add(service.file);
    this.serviceNames.push(service.typeName);
    return this;
  }

  /** Which methods have handlers: the source of the README's status table. */
  methodStatus(): readonly MethodStatus[] {
    return this.methods;
  }

  /**
   * Binds the port with health answering NOT_SERVING, so the port is known (port 0 picks a free
   * one) before services start; `markReady` then turns health to SERVING.
   */
  async listen(host: string, port: number): Promise<number> {
    this.health.addToServer(this.server);
    this.port = await new Promise<number>((resolve, reject) => {
      this.server.bindAsync(`${host}:${port}`, this.transport.serverCredentials(), (err, bound) =>
        err ? reject(new Error(`cannot listen for gRPC on ${host}:${port}: ${err.message}`)) : resolve(bound),
      );
    });
    return this.port;
  }

  /** Call once every service is registered: adds reflection over them and reports SERVING. */
  markReady(): void {
    addReflection(this.server, this.files);
    this.setServing(true);
  }

  get boundPort(): number | undefined {
    return this.port;
  }

  setServing(serving: boolean): void {
    const state = serving ? "SERVING" : "NOT_SERVING";
    this.health.setStatus("", state);
    for (const name of this.serviceNames) this.health.setStatus(name, state);
  }

  /**
   * Stops taking new calls, ends long-lived streams (clients reconnect to another replica),
   * lets unary calls in flight finish for up to `graceMs`, then closes what is left.
   */
  shutdown(graceMs: number): Promise<void> {
    this.stopping ??= this.drain(graceMs);
    return this.stopping;
  }

  private async drain(graceMs: number): Promise<void> {
    this.setServing(false);
    this.shutdownController.abort(new ShutdownError());
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.options.logger.warn({ graceMs }, "calls still in flight after the grace period; closing them");
        this.server.forceShutdown();
        resolve();
      }, graceMs);
      this.server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}

class ShutdownError extends AppError {
  constructor() {
    super(status.UNAVAILABLE, "the server is shutting down; retry on another replica");
  }
}
