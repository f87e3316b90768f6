import { setImmediate as nextTurn } from "node:timers/promises";
import { failedPrecondition, notFound, unavailable } from "../errors.js";
import type { Logger } from "../logger.js";
import type {
  BatchHandler, Bus, ConsumeSpec, Consumer, EphemeralMessage, PublishAck, PublishOptions, StreamInfo, StreamSpec,
  Subscription,
} from "./bus.js";
import { BatchConsumer, ConsumerSet, type Delivery, type DeliverySource } from "./consumer-loop.js";
import { consumerSettings, streamSettings, type ConsumerSettings } from "./defaults.js";
import { Durable, MemoryStream } from "./memory-stream.js";
import { checkSubject, patternsOverlap, subjectMatches } from "./subjects.js";

/**
 * The in-process Bus, for the all-in-one mode and tests: JetStream's semantics (retention,
 * msgId dedupe, durable positions, ack wait, nak backoff, maxDeliver, limits) in plain memory.
 * Nothing survives the process.
 */
export class MemoryBus implements Bus {
  private readonly streams = new Map<string, MemoryStream>();
  private readonly subscriptions = new Set<{ pattern: string; handler: (message: EphemeralMessage) => void }>();
  private readonly consumers = new ConsumerSet();
  private closed = false;

  constructor(private readonly options: { logger: Logger }) {}

  async ensureStream(spec: StreamSpec): Promise<void> {
    const settings = streamSettings(spec);
    for (const other of this.streams.values()) {
      if (other.settings.name === settings.name) continue;
      const clash = settings.subjects.find((s) => other.settings.subjects.some((o) => patternsOverlap(s, o)));
      if (clash) throw failedPrecondition(`stream ${settings.name}: subject "${clash}" overlaps stream ${other.settings.name}`);
    }
    const existing = this.streams.get(settings.name);
    if (!existing) {
      this.streams.set(settings.name, new MemoryStream(settings));
      return;
    }
    if (existing.settings.retention !== settings.retention) {
      throw failedPrecondition(`stream ${settings.name} exists with ${existing.settings.retention} retention; retention cannot change`);
    }
    existing.settings = settings;
    existing.enforceLimits(Date.now());
  }

  async streamInfo(name: string): Promise<StreamInfo> {
    const stream = this.streams.get(name);
    if (!stream) throw notFound("stream", name);
    stream.enforceLimits(Date.now());
    return { messages: stream.messages.size, bytes: stream.bytes, firstSeq: stream.firstSeq(), lastSeq: stream.lastSeq };
  }

  async publish(subject: string, data: Uint8Array, options: PublishOptions = {}): Promise<PublishAck> {
    this.assertOpen();
    checkSubject(subject, { wildcards: false });
    const stream = [...this.streams.values()].find((s) => s.accepts(subject));
    if (!stream) throw unavailable(`no stream accepts subject "${subject}"; was ensureStream called?`);
    const ack = stream.append(subject, data, options, Date.now());
    // A JetStream publish is also a core NATS message, so plain subscribers see it too.
    this.deliverEphemeral(subject, data);
    return ack;
  }

  consume(spec: ConsumeSpec, handler: BatchHandler): Consumer {
    this.assertOpen();
    const settings = consumerSettings(spec);
    const logger = this.options.logger.child({ stream: settings.stream, durable: settings.durable });
    const source = new MemorySource(() => this.durableFor(settings, logger), settings.batchSize);
    return this.consumers.track(new BatchConsumer(source, handler, settings, logger));
  }

  publishEphemeral(subject: string, data: Uint8Array): void {
    this.assertOpen();
    this.deliverEphemeral(checkSubject(subject, { wildcards: false }), data);
  }

  subscribe(subject: string, handler: (message: EphemeralMessage) => void): Subscription {
    const subscription = { pattern: checkSubject(subject, { wildcards: true }), handler };
    this.subscriptions.add(subscription);
    return { unsubscribe: () => void this.subscriptions.delete(subscription) };
  }

  async ping(): Promise<void> {
    this.assertOpen();
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.consumers.stopAll();
    this.subscriptions.clear();
  }

  private durableFor(settings: ConsumerSettings, logger: Logger): Durable {
    const stream = this.streams.get(settings.stream);
    if (!stream) throw failedPrecondition(`stream ${settings.stream} does not exist; call ensureStream before consume`);
    const existing = stream.durables.get(settings.durable);
    if (existing) {
      existing.settings = settings;
      return existing;
    }
    if (stream.settings.retention === "workqueue") {
      const rival = [...stream.durables.values()].find((d) =>
        patternsOverlap(d.settings.filterSubject ?? ">", settings.filterSubject ?? ">"),
      );
      if (rival) {
        throw failedPrecondition(`workqueue stream ${settings.stream} already has consumer ${rival.settings.durable} for overlapping subjects`);
      }
    }
    const durable = new Durable(stream, settings, logger);
    stream.durables.set(settings.durable, durable);
    return durable;
  }

  private deliverEphemeral(subject: string, data: Uint8Array): void {
    for (const subscription of this.subscriptions) {
      if (!subjectMatches(subscription.pattern, subject)) continue;
      const copy = data.slice();
      // Delivered later, as from a socket, so a publisher never runs subscriber code inline.
      queueMicrotask(() => {
        if (!this.subscriptions.has(subscription)) return;
        try {
          subscription.handler({ subject, data: copy });
        } catch (err) {
          this.options.logger.error({ err, subject }, "subscriber threw");
        }
      });
    }
  }

  private assertOpen(): void {
    if (this.closed) throw unavailable("the bus is closed");
  }
}

class MemorySource implements DeliverySource {
  private durable?: Durable;
  private interrupted = false;

  constructor(
    private readonly openDurable: () => Durable,
    private readonly batchSize: number,
  ) {}

  async open(): Promise<void> {
    this.durable = this.openDurable();
  }

  async next(): Promise<Delivery[]> {
    const durable = this.durable!;
    while (!this.interrupted) {
      const batch = durable.take(this.batchSize, Date.now());
      if (batch.length > 0) return batch;
      await durable.wake.wait(durable.msUntilDue(Date.now()));
      // As on a socket, messages published in one burst arrive together and form one batch.
      await nextTurn();
    }
    return [];
  }

  interrupt(): void {
    this.interrupted = true;
    this.durable?.wake.notify();
  }

  async close(): Promise<void> {}
}
