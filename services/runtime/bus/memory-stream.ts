import type { Logger } from "../logger.js";
import type { PublishAck, PublishOptions } from "./bus.js";
import { Signal, type Delivery } from "./consumer-loop.js";
import type { ConsumerSettings, StreamSettings } from "./defaults.js";
import { subjectMatches } from "./subjects.js";

/** The in-process stream store behind MemoryBus: messages, limits, dedupe and durable consumer state. */

export interface StoredMessage {
  seq: number;
  subject: string;
  data: Uint8Array;
  headers: Record<string, string>;
  msgId?: string;
  storedAt: number;
  size: number;
}

export class MemoryStream {
  /** In sequence order (Map keeps insertion order). */
  readonly messages = new Map<number, StoredMessage>();
  readonly durables = new Map<string, Durable>();
  private readonly recentMsgIds = new Map<string, { seq: number; at: number }>();
  lastSeq = 0;
  bytes = 0;

  constructor(public settings: StreamSettings) {}

  accepts(subject: string): boolean {
    return this.settings.subjects.some((pattern) => subjectMatches(pattern, subject));
  }

  firstSeq(): number {
    const [first] = this.messages.keys();
    return first ?? this.lastSeq + 1;
  }

  append(subject: string, data: Uint8Array, { msgId, headers = {} }: PublishOptions, now: number): PublishAck {
    for (const [id, seen] of this.recentMsgIds) {
      if (now - seen.at < this.settings.duplicateWindowMs) break;
      this.recentMsgIds.delete(id);
    }
    const seen = msgId === undefined ? undefined : this.recentMsgIds.get(msgId);
    if (seen) return { seq: seen.seq, duplicate: true };

    const seq = ++this.lastSeq;
    const headerBytes = Object.entries(headers).reduce((sum, [k, v]) => sum + k.length + v.length + 4, 0);
    const size = subject.length + data.length + headerBytes;
    this.messages.set(seq, { seq, subject, data: data.slice(), headers: { ...headers }, msgId, storedAt: now, size });
    this.bytes += size;
    if (msgId !== undefined) this.recentMsgIds.set(msgId, { seq, at: now });
    this.enforceLimits(now);
    for (const durable of this.durables.values()) durable.wake.notify();
    return { seq, duplicate: false };
  }

  /** Discards the oldest messages beyond maxAge or maxBytes. */
  enforceLimits(now: number): void {
    const { maxAgeMs, maxBytes } = this.settings;
    for (const message of this.messages.values()) {
      const tooOld = maxAgeMs > 0 && now - message.storedAt >= maxAgeMs;
      const overBudget = maxBytes >= 0 && this.bytes > maxBytes;
      if (!tooOld && !overBudget) break;
      this.remove(message.seq);
    }
  }

  remove(seq: number): void {
    const message = this.messages.get(seq);
    if (!message) return;
    this.messages.delete(seq);
    this.bytes -= message.size;
  }
}

/** A durable consumer's state: its position and its delivered-but-unsettled messages. */
export class Durable {
  readonly wake = new Signal();
  private nextSeq = 1;
  /** Oldest first; dueAt is when the message may be delivered again (ack wait or nak delay). */
  private readonly pending = new Map<number, { deliveryCount: number; dueAt: number }>();

  constructor(
    private readonly stream: MemoryStream,
    public settings: ConsumerSettings,
    private readonly logger: Logger,
  ) {}

  take(max: number, now: number): Delivery[] {
    this.stream.enforceLimits(now);
    const taken: Delivery[] = [];
    for (const [seq, entry] of this.pending) {
      if (taken.length >= max) break;
      if (entry.dueAt > now) continue;
      const message = this.stream.messages.get(seq);
      if (!message) {
        this.pending.delete(seq);
        continue;
      }
      if (entry.deliveryCount >= this.settings.maxDeliver) {
        this.pending.delete(seq);
        this.logger.warn({ subject: message.subject, seq, deliveryCount: entry.deliveryCount }, "message was not acknowledged within maxDeliver deliveries; no more redeliveries");
        continue;
      }
      entry.deliveryCount++;
      entry.dueAt = now + this.settings.ackWaitMs;
      taken.push(this.delivery(message, entry.deliveryCount));
    }
    this.nextSeq = Math.max(this.nextSeq, this.stream.firstSeq());
    while (taken.length < max && this.pending.size < this.settings.maxAckPending && this.nextSeq <= this.stream.lastSeq) {
      const message = this.stream.messages.get(this.nextSeq++);
      if (!message || !this.wants(message.subject)) continue;
      this.pending.set(message.seq, { deliveryCount: 1, dueAt: now + this.settings.ackWaitMs });
      taken.push(this.delivery(message, 1));
    }
    return taken;
  }

  msUntilDue(now: number): number {
    let earliest = Infinity;
    for (const entry of this.pending.values()) earliest = Math.min(earliest, entry.dueAt);
    return earliest - now;
  }

  private wants(subject: string): boolean {
    return this.settings.filterSubject === undefined || subjectMatches(this.settings.filterSubject, subject);
  }

  private delivery(message: StoredMessage, deliveryCount: number): Delivery {
    const { seq } = message;
    return {
      message: {
        subject: message.subject,
        data: message.data.slice(),
        headers: { ...message.headers },
        msgId: message.msgId,
        deliveryCount,
        seq,
        receivedAt: new Date(message.storedAt),
      },
      ack: () => this.finish(seq),
      term: () => this.finish(seq),
      nak: (delayMs) => {
        const entry = this.pending.get(seq);
        if (!entry) return;
        entry.dueAt = Date.now() + delayMs;
        this.wake.notify();
      },
    };
  }

  /** Acked or terminated: never delivered again, and gone from a work queue. */
  private finish(seq: number): void {
    if (this.pending.delete(seq) && this.stream.settings.retention === "workqueue") this.stream.remove(seq);
  }
}
