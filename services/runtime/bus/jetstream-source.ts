import { setImmediate as nextTurn } from "node:timers/promises";
import {
  AckPolicy, DeliverPolicy, JetStreamApiError, type ConsumerConfig, type ConsumerMessages,
  type Consumer as JetStreamConsumer, type JetStreamClient, type JetStreamManager, type JsMsg,
} from "@nats-io/jetstream";
import { nanos } from "@nats-io/transport-node";
import { failedPrecondition, unavailable } from "../errors.js";
import type { Logger } from "../logger.js";
import type { BusMessage } from "./bus.js";
import { Signal, type Delivery, type DeliverySource } from "./consumer-loop.js";
import type { ConsumerSettings } from "./defaults.js";
import type { Namespace } from "./subjects.js";

/** JetStream API error codes this module and the bus act on. */
export const ApiErrorCode = {
  StreamNotFound: 10059,
  StreamNameInUse: 10058,
  ConsumerAlreadyExists: 10148,
} as const;

/** How long one pull request waits on the server for messages; stopping does not wait for it. */
const PULL_EXPIRES_MS = 10_000;
const RETRY_PAUSE_MS = 1_000;

/** Context a consumer's JetStream source needs from its bus. */
export interface JetStreamContext {
  jsm: JetStreamManager;
  js: JetStreamClient;
  namespace: Namespace;
  /** True once the connection is closed for good (not merely reconnecting). */
  isClosed(): boolean;
}

/**
 * Batches from a durable pull consumer. One pull request (fetch) at a time asks for batchSize
 * messages, so no more than one batch is ever held unacknowledged in this process; messages are
 * handed out as they arrive rather than when the pull completes.
 */
export class JetStreamSource implements DeliverySource {
  private consumer?: JetStreamConsumer;
  private readonly received: JsMsg[] = [];
  private pull?: ConsumerMessages;
  private pulling = false;
  private interrupted = false;
  private readonly wake = new Signal();

  constructor(
    private readonly context: JetStreamContext,
    private readonly settings: ConsumerSettings,
    private readonly logger: Logger,
  ) {}

  async open(): Promise<void> {
    const { jsm, js, namespace } = this.context;
    const stream = namespace.stream(this.settings.stream);
    const config = this.consumerConfig();
    while (!this.interrupted) {
      try {
        await jsm.consumers.add(stream, config).catch((err) =>
          // Servers ≥ 2.10 refuse to "create" over a different config; older ones update in place.
          isApiError(err, ApiErrorCode.ConsumerAlreadyExists) ? jsm.consumers.update(stream, this.settings.durable, config) : Promise.reject(err),
        );
        this.consumer = await js.consumers.get(stream, this.settings.durable);
        return;
      } catch (err) {
        if (isApiError(err, ApiErrorCode.StreamNotFound)) {
          throw failedPrecondition(`stream ${this.settings.stream} does not exist; call ensureStream before consume`);
        }
        if (err instanceof JetStreamApiError) throw failedPrecondition(`cannot create consumer ${this.settings.durable}: ${err.message}`);
        if (this.context.isClosed()) throw unavailable("the bus is closed");
        this.logger.warn({ err }, "cannot reach JetStream to create the consumer; retrying");
        await this.wake.wait(RETRY_PAUSE_MS);
      }
    }
    throw unavailable("the consumer was stopped before it started");
  }

  async next(): Promise<Delivery[]> {
    while (!this.interrupted) {
      if (this.received.length > 0) {
        // A pull's messages arrive over several socket reads: one turn of the event loop lets a burst form one batch.
        await nextTurn();
        const fillUntil = Date.now() + this.settings.fillWaitMs;
        while (this.received.length < this.settings.batchSize && this.pulling && !this.interrupted && Date.now() < fillUntil) {
          await this.wake.wait(fillUntil - Date.now());
        }
        if (this.interrupted) break;
        return this.received.splice(0, this.settings.batchSize).map((message) => this.delivery(message));
      }
      if (!this.pulling) this.startPull();
      await this.wake.wait();
    }
    return [];
  }

  interrupt(): void {
    this.interrupted = true;
    void this.pull?.close();
    this.wake.notify();
  }

  async close(): Promise<void> {
    for (const message of this.received.splice(0)) message.nak();
  }

  private startPull(): void {
    this.pulling = true;
    void this.pullOnce().finally(() => {
      this.pulling = false;
      this.wake.notify();
    });
  }

  private async pullOnce(): Promise<void> {
    const started = Date.now();
    let count = 0;
    try {
      this.pull = await this.consumer!.fetch({ max_messages: this.settings.batchSize, expires: PULL_EXPIRES_MS });
      if (this.interrupted) void this.pull.close();
      for await (const message of this.pull) {
        count++;
        if (this.interrupted) message.nak();
        else this.received.push(message);
        this.wake.notify();
      }
    } catch (err) {
      if (this.interrupted) return;
      if (this.context.isClosed()) {
        this.logger.error({ err }, "the NATS connection is closed; this consumer is idle until stopped");
        return this.wake.wait();
      }
      this.logger.warn({ err }, "pulling messages failed; retrying");
    } finally {
      this.pull = undefined;
    }
    // An empty pull that ended early means trouble (consumer deleted, connection lost): don't spin.
    if (count === 0 && Date.now() - started < RETRY_PAUSE_MS && !this.interrupted) await this.wake.wait(RETRY_PAUSE_MS);
  }

  private consumerConfig(): Partial<ConsumerConfig> {
    const { durable, filterSubject, ackWaitMs, maxDeliver, maxAckPending } = this.settings;
    return {
      durable_name: durable,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      ack_wait: nanos(ackWaitMs),
      // The server stops redelivering at the same count at which the consume loop terminates.
      max_deliver: maxDeliver,
      max_ack_pending: maxAckPending,
      filter_subject: filterSubject === undefined ? undefined : this.context.namespace.subject(filterSubject),
    };
  }

  private delivery(message: JsMsg): Delivery {
    return new JetStreamDelivery(message, this.context.namespace);
  }
}

/** A delivered JetStream message; no closures per message, and the message's fields are read when asked for. */
class JetStreamDelivery implements Delivery {
  readonly message: BusMessage;

  constructor(private readonly jsMessage: JsMsg, namespace: Namespace) {
    this.message = new JetStreamBusMessage(jsMessage, namespace);
  }

  ack(): void {
    this.jsMessage.ack();
  }

  nak(delayMs: number): void {
    this.jsMessage.nak(delayMs);
  }

  /** No reason: servers before 2.11 ignore "+TERM <reason>" and redeliver after ackWait. */
  term(): void {
    this.jsMessage.term();
  }
}

/**
 * A BusMessage over a JsMsg. Bulk consumers often read only `data`: the reply subject (delivery
 * count, sequence, time), the headers and the subject are parsed on first use, once, which at
 * tens of thousands of messages a second is a good part of a consumer's CPU and garbage.
 */
class JetStreamBusMessage implements BusMessage {
  private parsedHeaders?: { headers: Record<string, string>; msgId?: string };
  private relativeSubject?: string;
  private time?: Date;

  constructor(private readonly jsMessage: JsMsg, private readonly namespace: Namespace) {}

  get data(): Uint8Array {
    return this.jsMessage.data;
  }

  get subject(): string {
    return (this.relativeSubject ??= this.namespace.relative(this.jsMessage.subject));
  }

  get headers(): Record<string, string> {
    return this.readHeaders().headers;
  }

  get msgId(): string | undefined {
    return this.readHeaders().msgId;
  }

  get deliveryCount(): number {
    return this.jsMessage.info.deliveryCount;
  }

  get seq(): number {
    return this.jsMessage.info.streamSequence;
  }

  get receivedAt(): Date {
    return (this.time ??= this.jsMessage.time);
  }

  private readHeaders(): { headers: Record<string, string>; msgId?: string } {
    if (this.parsedHeaders) return this.parsedHeaders;
    const headers: Record<string, string> = {};
    let msgId: string | undefined;
    for (const key of this.jsMessage.headers?.keys() ?? []) {
      const value = this.jsMessage.headers!.get(key);
      if (key === "Nats-Msg-Id") msgId = value;
      else if (!key.startsWith("Nats-")) headers[key] = value;
    }
    return (this.parsedHeaders = { headers, msgId });
  }
}

export function isApiError(err: unknown, code: number): boolean {
  return err instanceof JetStreamApiError && err.code === code;
}
