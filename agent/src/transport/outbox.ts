import type { Logger } from "../../../services/runtime/logger.js";
import type { OutgoingMessage, Spool } from "./spool.js";

/** Publishes one message or throws (unreachable, timed out, refused). */
export interface Publisher {
  publish(message: OutgoingMessage): Promise<void>;
}

export interface OutboxOptions {
  /** Messages kept in memory while online; beyond it the oldest move to the spool. */
  memoryQueue: number;
  /** Wait between attempts while offline. */
  retryMs: number;
  logger: Logger;
  onPublished?: (message: OutgoingMessage) => void;
  onStateChange?: (online: boolean) => void;
}

/**
 * Where the pipeline hands messages: `enqueue` never waits. Online, messages go out from memory
 * in order; when a publish fails they (and everything after them) go to the spool, and the spool
 * is replayed oldest first before anything newer, so order holds across outages and restarts.
 */
export class Outbox {
  private readonly memory: OutgoingMessage[] = [];
  /** Spool writes, chained so they land in enqueue order. */
  private writes: Promise<void> = Promise.resolve();
  private pendingWrites = 0;
  private online = true;
  private stopping = false;
  private wake: (() => void) | undefined;
  private readonly loop: Promise<void>;
  published = 0;

  constructor(private readonly spool: Spool, private readonly publisher: Publisher, private readonly options: OutboxOptions) {
    // After a restart with a spool, start as offline: the spool goes first anyway.
    if (spool.size > 0) this.online = false;
    this.loop = this.run();
  }

  get isOnline(): boolean {
    return this.online;
  }

  /** Messages waiting in memory (not yet spooled). */
  get pending(): number {
    return this.memory.length;
  }

  enqueue(message: OutgoingMessage): void {
    if (this.stopping || !this.online || this.spool.size > 0 || this.pendingWrites > 0) {
      this.toSpool([message]);
    } else {
      this.memory.push(message);
      if (this.memory.length > this.options.memoryQueue) this.toSpool(this.memory.splice(0, this.memory.length - this.options.memoryQueue));
    }
    this.wake?.();
  }

  /**
   * Stops taking new messages into memory, publishes what is in memory for up to `graceMs`,
   * spools the rest, and waits for every spool write.
   */
  async close(graceMs: number): Promise<void> {
    const deadline = Date.now() + graceMs;
    while (this.memory.length > 0 && this.online && Date.now() < deadline) await sleep(Math.min(20, Math.max(1, deadline - Date.now())));
    this.stopping = true;
    this.wake?.();
    await this.loop;
    this.toSpool(this.memory.splice(0));
    await this.writes;
  }

  /** Resolves when nothing waits in memory or on disk (tests, benchmarks). */
  async drained(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.memory.length > 0 || this.spool.size > 0) {
      if (Date.now() > deadline) throw new Error(`outbox not drained after ${timeoutMs} ms: ${this.memory.length} in memory, ${this.spool.size} spooled`);
      await sleep(10);
    }
    await this.writes;
  }

  private toSpool(messages: OutgoingMessage[]): void {
    for (const message of messages) {
      this.pendingWrites++;
      this.writes = this.writes
        .then(() => this.spool.append(message))
        .catch((err) => {
          this.spool.dropped++;
          this.options.logger.error({ err, msgId: message.msgId }, "cannot write to the spool; message lost");
        })
        .finally(() => this.pendingWrites--);
    }
  }

  private async run(): Promise<void> {
    while (!this.stopping) {
      await this.writes;
      if (this.spool.size > 0) {
        await this.replayOne();
      } else if (this.memory.length > 0) {
        await this.publishFromMemory();
      } else {
        await new Promise<void>((resolve) => (this.wake = resolve));
        this.wake = undefined;
      }
    }
  }

  private async replayOne(): Promise<void> {
    let head: Awaited<ReturnType<Spool["peek"]>>;
    try {
      head = await this.spool.peek();
    } catch (err) {
      this.options.logger.error({ err }, "unreadable spool entry dropped");
      this.spool.dropped++;
      await this.spool.removeOldest();
      return;
    }
    if (!head) return;
    if (await this.attempt(head.message)) await this.spool.remove(head.id);
    else await this.pause();
  }

  private async publishFromMemory(): Promise<void> {
    const message = this.memory[0]!;
    if (await this.attempt(message)) {
      // enqueue may have moved it to the spool meanwhile (overflow); only drop it if still here.
      if (this.memory[0] === message) this.memory.shift();
      return;
    }
    this.toSpool(this.memory.splice(0));
    await this.pause();
  }

  private async attempt(message: OutgoingMessage): Promise<boolean> {
    try {
      await this.publisher.publish(message);
      this.published++;
      this.setOnline(true);
      this.options.onPublished?.(message);
      return true;
    } catch (err) {
      if (this.online) this.options.logger.warn({ err: (err as Error).message }, "publish failed; spooling until the bus is back");
      this.setOnline(false);
      return false;
    }
  }

  private setOnline(online: boolean): void {
    if (online === this.online) return;
    this.online = online;
    this.options.onStateChange?.(online);
  }

  private async pause(): Promise<void> {
    if (this.stopping) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, this.options.retryMs);
      this.wake = () => {
        if (this.stopping) {
          clearTimeout(timer);
          resolve();
        }
      };
    });
    this.wake = undefined;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
