import { mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import type { Bus } from "../../services/runtime/bus/bus.js";
import { AdminHttpServer } from "../../services/runtime/admin-http.js";
import { createLogger, type Logger } from "../../services/runtime/logger.js";
import type { AgentConfig } from "./config.js";
import { release, type Mat } from "./cv.js";
import { HeartbeatSender } from "./health/heartbeat.js";
import { AgentMetrics } from "./health/metrics.js";
import { SourceHealth } from "./health/source-health.js";
import { openSource, type FrameSource } from "./capture/sources.js";
import { createDetector } from "./pipeline/detector.js";
import { FramePipeline, type Emitted } from "./pipeline/pipeline.js";
import { DeviceTokenError, DeviceTokens } from "./transport/device-token.js";
import { GatewayTokenIssuer } from "./transport/gateway-token-issuer.js";
import { IdentityTokenIssuer } from "./transport/identity-token-issuer.js";
import { FrameMessages } from "./transport/frame-messages.js";
import { GrpcLink } from "./transport/grpc-link.js";
import { NatsLink } from "./transport/nats-link.js";
import { Outbox, type Publisher } from "./transport/outbox.js";
import { Spool } from "./transport/spool.js";

export interface AgentOptions {
  logger?: Logger;
  /** A bus made by the caller instead of connecting to config.transport.natsUrl (tests; --transport nats). */
  connectBus?: () => Promise<Bus>;
}

/** Where the outbox publishes: NATS (FRAMES) or vision's StreamFrames. */
export type AgentLink = Publisher & { readonly connected: boolean; close(): Promise<void> };

/** The file beside the spool that remembers the organisation, so a restart can spool offline. */
const ORGANIZATION_FILE = "organization";

/**
 * The running agent: source → pipeline → outbox (NATS or vision's gRPC stream, or the spool
 * while offline), with /metrics and heartbeats (NATS only). `stop` ends capture, sends the last crops of live tracks, gives the
 * outbox the grace period to publish, spools the rest, and closes everything.
 */
export class Agent {
  private stopping = false;
  private stopped: Promise<void> | undefined;
  private heartbeat: HeartbeatSender | undefined;
  /** Aborted by stop: ends a live source's wait to reconnect at once. */
  private readonly captureAbort = new AbortController();
  /** Why capture ended early, if it failed (the source broke). */
  failure: Error | undefined;
  /** Resolves when capture has ended (a file or directory ran out, or stop was called; a live source that drops is reopened instead). */
  readonly done: Promise<void>;

  private constructor(
    readonly config: AgentConfig,
    readonly metrics: AgentMetrics,
    readonly admin: AdminHttpServer,
    readonly metricsPort: number,
    readonly spool: Spool,
    readonly outbox: Outbox,
    readonly link: AgentLink,
    private readonly tokens: DeviceTokens,
    private readonly source: FrameSource,
    private readonly sourceHealth: SourceHealth,
    private readonly pipeline: FramePipeline,
    private readonly logger: Logger,
  ) {
    this.done = this.captureLoop();
  }

  static async start(config: AgentConfig, options: AgentOptions = {}): Promise<Agent> {
    const logger = options.logger ?? createLogger(config.logLevel);
    const metrics = new AgentMetrics(config.device.id);
    const spool = await Spool.open(config.spool.dir, config.spool.maxBytes);
    const detector = await createDetector(config.detector.backend, config.detector.modelsDir, config.detector.threads);
    const { tokens: from } = config.device;
    const issuer = from.via === "gateway" ? new GatewayTokenIssuer(from.url, config.transport.publishTimeoutMs) : new IdentityTokenIssuer(from.address, config.transport.publishTimeoutMs);
    const tokens = new DeviceTokens(config.device.id, config.device.secret, issuer);
    const organizationId = await organizationOf(config, tokens, logger).catch((err: unknown) => {
      tokens.close();
      throw err;
    });
    const sourceHealth = new SourceHealth(metrics, logger);
    const source = await openSource(config, sourceHealth);
    const { kind, natsUrl, visionAddress, namespace, publishTimeoutMs: timeoutMs } = config.transport;
    const link = kind === "grpc"
      ? new GrpcLink(tokens, { address: visionAddress!, timeoutMs, logger })
      : new NatsLink(tokens, { url: natsUrl, namespace, timeoutMs, logger, connect: options.connectBus });
    const outbox = new Outbox(spool, link, {
      memoryQueue: config.transport.memoryQueue,
      retryMs: config.transport.retryMs,
      logger,
      onPublished: () => metrics.messagesPublished.inc(),
      onStateChange: (online) => logger.info({ online, spooled: spool.size }, online ? "publishing again; replaying the spool" : "offline; spooling"),
    });
    const messages = new FrameMessages(organizationId, config.device.id);
    const pipeline = new FramePipeline(detector, config, metrics, (item: Emitted) =>
      outbox.enqueue(item.kind === "crops" ? messages.crops(item.captureTime, item.crops) : messages.image(item.captureTime, item.jpeg)),
    );
    let droppedSeen = 0;
    metrics.refresh = () => {
      metrics.spoolBytes.set(spool.bytes);
      metrics.spoolMessages.set(spool.size);
      metrics.spoolAge.set(spool.oldestAgeMs() / 1000);
      metrics.connected.set(outbox.isOnline && link.connected ? 1 : 0);
      metrics.spoolDropped.inc(spool.dropped - droppedSeen);
      droppedSeen = spool.dropped;
    };
    const admin = new AdminHttpServer(metrics, logger);
    let started: Agent | undefined;
    admin.addReadinessCheck({
      name: "capture",
      check: async () => {
        if (started?.failure) throw new Error(`capture failed: ${started.failure.message}`);
      },
    });
    admin.addReadinessCheck({ name: "source", check: () => sourceHealth.check() });
    const metricsPort = await admin.listen(config.health.host, config.health.metricsPort);
    logger.info({ source: source.description, detector: detector.backend, transport: kind, tokens: issuer.description, metricsPort, spooled: spool.size, organizationId }, "agent started");
    const agent = new Agent(config, metrics, admin, metricsPort, spool, outbox, link, tokens, source, sourceHealth, pipeline, logger);
    started = agent;
    if (link instanceof NatsLink) {
      // The audit service raises DEVICE_DOWN in the device's organisation, which it reads from here.
      const health = () => {
        const state = agent.healthState();
        return { ...state, metadata: { ...state.metadata, organization_id: organizationId } };
      };
      agent.heartbeat = new HeartbeatSender(config.device.id, config.health.heartbeatMs, health, (component, data) => link.publishHealth(component, data), logger);
      agent.heartbeat.start();
    } else {
      logger.debug({ transport: kind }, "heartbeats are skipped: they travel over NATS only and vision's gRPC stream has no path for them");
    }
    return agent;
  }

  /** Idempotent: every caller waits for the same, complete shutdown. */
  stop(): Promise<void> {
    this.stopped ??= this.shutdown();
    return this.stopped;
  }

  private async shutdown(): Promise<void> {
    this.stopping = true;
    this.captureAbort.abort();
    await this.done;
    this.pipeline.flush();
    this.heartbeat?.stop();
    await this.outbox.close(this.config.shutdownGraceMs);
    this.metrics.refresh();
    this.source.close();
    await this.link.close();
    this.tokens.close();
    await this.admin.close();
    const cropsSent = (await this.metrics.cropsSent.get()).values.reduce((sum, v) => sum + v.value, 0);
    this.logger.info({ published: this.outbox.published, spooled: this.spool.size, dropped: this.spool.dropped, cropsSent }, "agent stopped");
  }

  private healthState() {
    this.metrics.refresh();
    const online = this.outbox.isOnline && this.spool.size === 0;
    return {
      status: online && this.sourceHealth.up ? ("UP" as const) : ("DEGRADED" as const),
      metadata: { source: this.source.description, sourceUp: this.sourceHealth.up, spooledMessages: this.spool.size, spooledBytes: this.spool.bytes, spoolDropped: this.spool.dropped, published: this.outbox.published },
    };
  }

  private async captureLoop(): Promise<void> {
    await Promise.resolve();
    const intervalMs = 1000 / this.config.fps;
    let nextDue = Date.now();
    try {
      while (!this.stopping) {
        const frame: Mat | undefined = await this.source.read(this.captureAbort.signal);
        if (!frame) break;
        const now = Date.now();
        if (this.source.live) {
          if (now < nextDue) {
            release(frame);
            continue;
          }
          nextDue = Math.max(nextDue + intervalMs, now - intervalMs);
        }
        this.metrics.framesCaptured.inc();
        try {
          await this.pipeline.process(frame, new Date(now));
        } finally {
          release(frame);
        }
        if (!this.source.live && this.config.realtime) {
          nextDue += intervalMs;
          const wait = nextDue - Date.now();
          if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
          else nextDue = Date.now();
        }
      }
    } catch (err) {
      this.failure = err as Error;
      this.logger.error({ err }, "capture failed");
      return;
    }
    this.logger.info("capture ended");
  }
}

/**
 * From the flag, else remembered beside the spool, else with the first device token (retrying
 * while the issuer is away; a refusal that retrying cannot heal, such as a wrong secret, ends the start).
 */
async function organizationOf(config: AgentConfig, tokens: DeviceTokens, logger: Logger): Promise<string> {
  const file = path.join(config.spool.dir, ORGANIZATION_FILE);
  const remembered = await readFile(file, "utf8").then((s) => s.trim(), () => undefined);
  let organizationId = config.device.organizationId ?? remembered;
  for (let attempt = 0; !organizationId; attempt++) {
    try {
      organizationId = (await tokens.get()).organizationId;
    } catch (err) {
      if (err instanceof DeviceTokenError && err.permanent) throw err;
      if (attempt === 0) logger.warn({ err: (err as Error).message }, "no device token yet; the organisation is needed before capture starts (or pass --organization)");
      await new Promise((resolve) => setTimeout(resolve, config.transport.retryMs));
    }
  }
  if (organizationId !== remembered) {
    await mkdir(config.spool.dir, { recursive: true });
    await writeFile(file, `${organizationId}\n`);
  }
  return organizationId;
}
