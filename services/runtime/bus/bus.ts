import type { Logger } from "../logger.js";
import { MemoryBus } from "./memory-bus.js";
import { NatsBus } from "./nats-bus.js";
import { Namespace, subjectToken } from "./subjects.js";

/**
 * The message bus: durable JetStream streams with pull consumers, plus core pub/sub for
 * fire-and-forget signals. Every subject and stream name a caller passes is relative to the
 * bus's namespace ("frames.<org>.<device>", stream "FRAMES").
 */
export interface Bus {
  /** Creates the stream or updates its subjects and limits; retention cannot change. */
  ensureStream(spec: StreamSpec): Promise<void>;
  streamInfo(name: string): Promise<StreamInfo>;
  /** Durable publish: resolves once a stream has stored the message (or recognised its msgId). */
  publish(subject: string, data: Uint8Array, options?: PublishOptions): Promise<PublishAck>;
  /** Starts a durable pull consumer delivering batches to `handler` until stopped. */
  consume(spec: ConsumeSpec, handler: BatchHandler): Consumer;
  /** Core pub/sub: delivered to current subscribers only, never stored. */
  publishEphemeral(subject: string, data: Uint8Array): void;
  /** `subject` may use `*` (one token) and `>` (the rest). */
  subscribe(subject: string, handler: (message: EphemeralMessage) => void): Subscription;
  ping(): Promise<void>;
  /** Stops every consumer (letting handlers finish), flushes and disconnects. */
  close(): Promise<void>;
}

export type Retention = "limits" | "workqueue";

export interface StreamSpec {
  name: string;
  subjects: string[];
  /** "limits" keeps messages until maxAge/maxBytes; "workqueue" removes each once acknowledged. */
  retention: Retention;
  maxAgeMs?: number;
  /** Oldest messages are discarded beyond this. */
  maxBytes?: number;
  /** A msgId seen again within this window is not stored twice. Default 2 min, capped at maxAge. */
  duplicateWindowMs?: number;
}

export interface StreamInfo {
  messages: number;
  bytes: number;
  firstSeq: number;
  lastSeq: number;
}

export interface PublishOptions {
  msgId?: string;
  headers?: Record<string, string>;
}

export interface PublishAck {
  seq: number;
  duplicate: boolean;
}

export interface BusMessage {
  subject: string;
  data: Uint8Array;
  headers: Record<string, string>;
  msgId?: string;
  /** 1 on first delivery. */
  deliveryCount: number;
  /** Position in the stream. */
  seq: number;
  /** When the stream stored the message; the same on every redelivery. */
  receivedAt: Date;
}

/** "retry" redelivers after a backoff (until maxDeliver); "reject" drops the message for good. */
export type MessageOutcome = "ack" | "retry" | "reject";
/** One outcome per message, in the order the handler received them. */
export type BatchResult = MessageOutcome[];
/** Resolving acks the whole batch; throwing retries the whole batch. */
export type BatchHandler = (messages: BusMessage[]) => Promise<void | BatchResult>;

export interface ConsumeSpec {
  stream: string;
  /** Consumers with the same durable name share one position in the stream. */
  durable: string;
  filterSubject?: string;
  /** Unacknowledged messages are redelivered after this. Default 30 s. */
  ackWaitMs?: number;
  /** Deliveries before a failing message is terminated. Default 5. */
  maxDeliver?: number;
  /** Delivered but unacknowledged messages allowed at once. Default 1000. */
  maxAckPending?: number;
  /** Most messages per handler call. Default 10. */
  batchSize?: number;
  /** Delay before the first redelivery of a failed message; doubles each time. Default 1 s. */
  retryDelayMs?: number;
  /**
   * Once a batch has begun to arrive, how long to wait for it to fill up to batchSize (NATS only;
   * for bulk consumers, where fewer, larger batches are cheaper). Default 0: hand out what arrived.
   */
  fillWaitMs?: number;
}

export interface ConsumerCounters {
  delivered: number;
  acked: number;
  retried: number;
  rejected: number;
  /** Failed on their last allowed delivery. */
  terminated: number;
  /** Handler calls that threw. */
  failedBatches: number;
}

export interface Consumer {
  /** Resolves once the durable consumer exists; rejects when it cannot be created (e.g. no such stream). */
  readonly ready: Promise<void>;
  readonly counters: Readonly<ConsumerCounters>;
  /** Stops pulling, waits for the batch in flight to be handled and settled. */
  stop(): Promise<void>;
}

export interface EphemeralMessage {
  subject: string;
  data: Uint8Array;
}

export interface Subscription {
  unsubscribe(): void;
}

export interface BusOptions {
  /** `nats://…`; without it the bus lives in this process's memory. */
  url?: string;
  /** Prefix of every subject and stream on the server. Default "rollcall". */
  namespace?: string;
  logger: Logger;
  /** Connection name shown by the NATS server. */
  name?: string;
  /** How long publish and stream/consumer management wait for NATS. Default 5 s. */
  requestTimeoutMs?: number;
}

export async function createBus(options: BusOptions): Promise<Bus> {
  const namespace = new Namespace(options.namespace ?? "rollcall");
  const logger = options.logger.child({ component: "bus" });
  if (options.url) {
    return NatsBus.connect({
      url: options.url,
      namespace,
      logger,
      name: options.name,
      requestTimeoutMs: options.requestTimeoutMs,
    });
  }
  logger.info("no NATS URL configured: using the in-process bus");
  return new MemoryBus({ logger });
}

/** Subjects of docs/design/data-model.md, built from validated tokens. */
export const subjects = {
  frames: (org: string, device: string) => join("frames", org, device),
  recognitions: (org: string) => join("recognitions", org),
  audit: (org: string, service: string) => join("audit", org, service),
  events: (org: string) => join("events", org),
  health: (component: string) => join("health", component),
  logs: (service: string) => join("logs", service),
  authzChanged: (org: string) => join("authz", "changed", org),
  visionIndexChanged: (org: string) => join("vision", "index", "changed", org),
};

function join(...tokens: string[]): string {
  return tokens.map((token) => subjectToken(token)).join(".");
}
