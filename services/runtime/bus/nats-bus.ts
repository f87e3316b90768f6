import {
  DiscardPolicy, JetStreamApiError, RetentionPolicy, StorageType, jetstreamManager, type JetStreamClient,
  type JetStreamManager,
} from "@nats-io/jetstream";
import { connect, headers as natsHeaders, nanos, TimeoutError, type NatsConnection } from "@nats-io/transport-node";
import { AppError, failedPrecondition, notFound, unavailable } from "../errors.js";
import type { Logger } from "../logger.js";
import type {
  BatchHandler, Bus, ConsumeSpec, Consumer, EphemeralMessage, PublishAck, PublishOptions, StreamInfo, StreamSpec,
  Subscription,
} from "./bus.js";
import { BatchConsumer, ConsumerSet } from "./consumer-loop.js";
import { consumerSettings, streamSettings } from "./defaults.js";
import { ApiErrorCode, isApiError, JetStreamSource } from "./jetstream-source.js";
import { checkSubject, type Namespace } from "./subjects.js";

export interface NatsBusOptions {
  url: string;
  namespace: Namespace;
  logger: Logger;
  name?: string;
  requestTimeoutMs?: number;
}

/** The Bus on a NATS server with JetStream. */
export class NatsBus implements Bus {
  private readonly js: JetStreamClient;
  private readonly consumers = new ConsumerSet();

  static async connect(options: NatsBusOptions): Promise<NatsBus> {
    const server = withoutCredentials(options.url);
    const timeout = options.requestTimeoutMs ?? 5_000;
    let nc: NatsConnection;
    try {
      nc = await connect({ servers: options.url.split(","), name: options.name, timeout, maxReconnectAttempts: -1, reconnectTimeWait: 1_000 });
    } catch (err) {
      throw unavailable(`cannot connect to NATS at ${server}: ${(err as Error).message}`);
    }
    try {
      const jsm = await jetstreamManager(nc, { timeout });
      return new NatsBus(nc, jsm, server, timeout, options);
    } catch (err) {
      await nc.close();
      throw unavailable(`NATS at ${server} does not offer JetStream: ${(err as Error).message}`);
    }
  }

  private constructor(
    private readonly nc: NatsConnection,
    private readonly jsm: JetStreamManager,
    private readonly server: string,
    private readonly timeoutMs: number,
    private readonly options: NatsBusOptions,
  ) {
    this.js = jsm.jetstream();
    void this.logConnectionChanges();
  }

  private get namespace(): Namespace {
    return this.options.namespace;
  }

  async ensureStream(spec: StreamSpec): Promise<void> {
    const settings = streamSettings(spec);
    const name = this.namespace.stream(settings.name);
    const retention = settings.retention === "workqueue" ? RetentionPolicy.Workqueue : RetentionPolicy.Limits;
    const limits = {
      subjects: settings.subjects.map((subject) => this.namespace.subject(subject)),
      max_age: nanos(settings.maxAgeMs),
      max_bytes: settings.maxBytes,
      duplicate_window: nanos(settings.duplicateWindowMs),
    };
    await this.manage(`ensureStream ${settings.name}`, async () => {
      const existing = await this.jsm.streams.info(name).catch((err) => (isApiError(err, ApiErrorCode.StreamNotFound) ? null : Promise.reject(err)));
      if (!existing) {
        try {
          await this.jsm.streams.add({ name, retention, storage: StorageType.File, discard: DiscardPolicy.Old, ...limits });
          return;
        } catch (err) {
          if (!isApiError(err, ApiErrorCode.StreamNameInUse)) throw err; // else another process created it first: update it
        }
      }
      const current = existing ?? (await this.jsm.streams.info(name));
      if (current.config.retention !== retention) {
        throw failedPrecondition(`stream ${settings.name} exists with ${current.config.retention} retention; retention cannot change`);
      }
      await this.jsm.streams.update(name, limits);
    });
  }

  async streamInfo(name: string): Promise<StreamInfo> {
    return this.manage(`streamInfo ${name}`, async () => {
      const info = await this.jsm.streams.info(this.namespace.stream(name)).catch((err) =>
        Promise.reject(isApiError(err, ApiErrorCode.StreamNotFound) ? notFound("stream", name) : err),
      );
      const { messages, bytes, first_seq: firstSeq, last_seq: lastSeq } = info.state;
      return { messages, bytes, firstSeq, lastSeq };
    });
  }

  async publish(subject: string, data: Uint8Array, options: PublishOptions = {}): Promise<PublishAck> {
    checkSubject(subject, { wildcards: false });
    const headers = options.headers && Object.keys(options.headers).length > 0 ? natsHeaders() : undefined;
    for (const [key, value] of Object.entries(options.headers ?? {})) headers!.set(key, value);
    try {
      const ack = await this.js.publish(this.namespace.subject(subject), data, { msgID: options.msgId, headers, timeout: this.timeoutMs });
      return { seq: ack.seq, duplicate: ack.duplicate };
    } catch (err) {
      // The client reports "no responders" (no stream listens on the subject) as JetStreamNotEnabled.
      if ((err as Error).name === "JetStreamNotEnabled") {
        throw unavailable(`no stream accepts subject "${subject}" (or JetStream is down); was ensureStream called?`);
      }
      if (err instanceof TimeoutError) {
        throw unavailable(`NATS at ${this.server} did not acknowledge a publish to "${subject}" within ${this.timeoutMs} ms`);
      }
      if (err instanceof JetStreamApiError) throw failedPrecondition(`publish to "${subject}" refused: ${err.message}`);
      throw unavailable(`publish to "${subject}" failed: ${(err as Error).message}`);
    }
  }

  consume(spec: ConsumeSpec, handler: BatchHandler): Consumer {
    if (this.nc.isClosed()) throw unavailable("the bus is closed");
    const settings = consumerSettings(spec);
    const logger = this.options.logger.child({ stream: settings.stream, durable: settings.durable });
    const context = { jsm: this.jsm, js: this.js, namespace: this.namespace, isClosed: () => this.nc.isClosed() };
    const source = new JetStreamSource(context, settings, logger);
    return this.consumers.track(new BatchConsumer(source, handler, settings, logger));
  }

  publishEphemeral(subject: string, data: Uint8Array): void {
    checkSubject(subject, { wildcards: false });
    try {
      this.nc.publish(this.namespace.subject(subject), data);
    } catch (err) {
      throw unavailable(`publish to "${subject}" failed: ${(err as Error).message}`);
    }
  }

  subscribe(subject: string, handler: (message: EphemeralMessage) => void): Subscription {
    checkSubject(subject, { wildcards: true });
    const subscription = this.nc.subscribe(this.namespace.subject(subject), {
      callback: (err, msg) => {
        if (err) return this.options.logger.warn({ err, subject }, "subscription ended with an error");
        try {
          handler({ subject: this.namespace.relative(msg.subject), data: msg.data });
        } catch (handlerErr) {
          this.options.logger.error({ err: handlerErr, subject: msg.subject }, "subscriber threw");
        }
      },
    });
    return { unsubscribe: () => subscription.unsubscribe() };
  }

  async ping(): Promise<void> {
    await this.manage("ping", () => this.jsm.getAccountInfo());
  }

  async close(): Promise<void> {
    await this.consumers.stopAll();
    if (!this.nc.isClosed()) await this.nc.drain();
  }

  /** Management calls: our own AppErrors pass, server refusals are preconditions, the rest is unavailability. */
  private async manage<T>(what: string, call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (err) {
      if (err instanceof AppError) throw err;
      if (err instanceof JetStreamApiError) throw failedPrecondition(`${what}: ${err.message}`);
      throw unavailable(`${what}: NATS at ${this.server} did not answer (${(err as Error).message})`);
    }
  }

  private async logConnectionChanges(): Promise<void> {
    const logger = this.options.logger;
    for await (const status of this.nc.status()) {
      if (status.type === "disconnect") logger.warn({ server: status.server }, "NATS connection lost; reconnecting until it is back");
      else if (status.type === "reconnect") logger.info({ server: status.server }, "NATS connection restored");
      else if (status.type === "ldm") logger.info({ server: status.server }, "NATS server is shutting down (lame duck); will move");
      else if (status.type === "staleConnection") logger.warn("NATS connection is stale; reconnecting");
      else if (status.type === "error") logger.warn({ err: status.error }, "NATS reported an error");
      else if (status.type === "slowConsumer") logger.warn({ subject: status.sub.getSubject(), pending: status.pending }, "a NATS subscriber cannot keep up");
    }
  }
}

function withoutCredentials(url: string): string {
  return url.replace(/\/\/[^@/]*@/g, "//");
}
