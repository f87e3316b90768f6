import type { Logger } from "../logger.js";
import type { BatchHandler, BusMessage, Consumer, ConsumerCounters, MessageOutcome } from "./bus.js";
import { retryDelayMs, type ConsumerSettings } from "./defaults.js";

/** One delivered message and the means to settle it with whoever delivered it. */
export interface Delivery {
  message: BusMessage;
  ack(): void;
  nak(delayMs: number): void;
  /** Never deliver again. */
  term(): void;
}

/** Where a consumer's batches come from: a JetStream pull consumer or an in-process stream. */
export interface DeliverySource {
  /** Creates or binds the durable consumer; rejects when that is impossible. */
  open(): Promise<void>;
  /** Waits for 1..batchSize deliveries; returns [] once interrupted. Never rejects. */
  next(): Promise<Delivery[]>;
  /** Makes a pending or later next()/open() return promptly. */
  interrupt(): void;
  /** Gives back deliveries that were received but never handed to the handler. */
  close(): Promise<void>;
}

const OUTCOMES: ReadonlySet<MessageOutcome> = new Set(["ack", "retry", "reject"]);

/**
 * The consume loop both buses share: pull a batch, run the handler, settle every message
 * (ack, nak with backoff, or term), and count what happened.
 */
export class BatchConsumer implements Consumer {
  readonly ready: Promise<void>;
  readonly counters: ConsumerCounters = { delivered: 0, acked: 0, retried: 0, rejected: 0, terminated: 0, failedBatches: 0 };
  private stopping = false;
  private readonly finished: Promise<void>;

  constructor(
    private readonly source: DeliverySource,
    private readonly handler: BatchHandler,
    private readonly settings: ConsumerSettings,
    private readonly logger: Logger,
  ) {
    let markReady!: () => void;
    let markFailed!: (err: unknown) => void;
    this.ready = new Promise<void>((resolve, reject) => {
      markReady = resolve;
      markFailed = reject;
    });
    // Awaiting `ready` is optional; a failure is logged either way, so it must not go unhandled.
    this.ready.catch(() => {});
    this.finished = this.run(markReady, markFailed);
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.source.interrupt();
    await this.finished;
  }

  private async run(markReady: () => void, markFailed: (err: unknown) => void): Promise<void> {
    try {
      await this.source.open();
    } catch (err) {
      if (!this.stopping) this.logger.error({ err }, "consumer could not start");
      markFailed(err);
      return;
    }
    markReady();
    try {
      while (!this.stopping) {
        const batch = await this.source.next();
        if (batch.length > 0) await this.handle(batch);
      }
    } finally {
      await this.source.close();
    }
  }

  private async handle(batch: Delivery[]): Promise<void> {
    this.counters.delivered += batch.length;
    const outcomes = await this.outcomesOf(batch.map((delivery) => delivery.message));
    batch.forEach((delivery, i) => this.settle(delivery, outcomes[i]!));
  }

  private async outcomesOf(messages: BusMessage[]): Promise<MessageOutcome[]> {
    try {
      const result = await this.handler(messages);
      if (!result) return messages.map(() => "ack");
      if (result.length !== messages.length || !result.every((outcome) => OUTCOMES.has(outcome))) {
        throw new Error(`handler returned [${result.join(", ")}] for ${messages.length} messages; expected one of ack/retry/reject per message`);
      }
      return result;
    } catch (err) {
      this.counters.failedBatches++;
      this.logger.warn({ err, messages: messages.length, firstSeq: messages[0]?.seq }, "handler failed; its batch will be retried");
      return messages.map(() => "retry");
    }
  }

  /** Reads the message's fields only off the ack path: a JetStream message parses them on first use. */
  private settle(delivery: Delivery, outcome: MessageOutcome): void {
    if (outcome === "ack") {
      delivery.ack();
      this.counters.acked++;
      return;
    }
    const { subject, seq, deliveryCount } = delivery.message;
    if (outcome === "reject") {
      delivery.term();
      this.counters.rejected++;
      this.logger.debug({ subject, seq }, "message rejected by the handler; terminated");
    } else if (deliveryCount >= this.settings.maxDeliver) {
      delivery.term();
      this.counters.terminated++;
      this.logger.warn({ subject, seq, deliveryCount }, "message failed on its last allowed delivery; terminated");
    } else {
      delivery.nak(retryDelayMs(this.settings, deliveryCount));
      this.counters.retried++;
    }
  }
}

/** Wakes every waiter at once; a waiter may also give up after a timeout. */
export class Signal {
  private readonly waiters = new Set<() => void>();

  wait(timeoutMs = Infinity): Promise<void> {
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const wake = () => {
        clearTimeout(timer);
        this.waiters.delete(wake);
        resolve();
      };
      this.waiters.add(wake);
      if (Number.isFinite(timeoutMs)) timer = setTimeout(wake, Math.max(0, timeoutMs));
    });
  }

  notify(): void {
    for (const wake of [...this.waiters]) wake();
  }
}

/** The consumers a bus started, so that closing the bus can stop them all. */
export class ConsumerSet {
  private readonly active = new Set<Consumer>();

  track(consumer: Consumer): Consumer {
    this.active.add(consumer);
    return {
      ready: consumer.ready,
      counters: consumer.counters,
      stop: async () => {
        await consumer.stop();
        this.active.delete(consumer);
      },
    };
  }

  async stopAll(): Promise<void> {
    await Promise.all([...this.active].map((consumer) => consumer.stop()));
    this.active.clear();
  }
}
