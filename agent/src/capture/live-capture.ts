import { setTimeout as sleep } from "node:timers/promises";
import type { Mat } from "../cv.js";
import { Backoff } from "./backoff.js";
import type { FrameSource } from "./sources.js";
import type { VideoCapture } from "./video-capture.js";

/** What happens to a live source's connection; every outage is told once, then its end once. */
export interface LiveSourceListener {
  /** The source stopped giving frames (the first failure of an outage). */
  dropped(reason: string): void;
  /** Reopening attempt `attempt` of this outage failed too. */
  retryFailed(attempt: number, reason: string): void;
  /** Frames again, after `attempts` reopenings over `outageMs`. */
  recovered(attempts: number, outageMs: number): void;
}

/** Opens the source again after a drop; `signal` aborts a wait inside it. */
export type Reopen = (signal: AbortSignal | undefined) => Promise<VideoCapture>;

/**
 * A camera or a network stream: whatever frame is next (the caller samples them down). A stream
 * that ends, fails or stays silent for `timeoutMs` is an outage, not the end: the capture is
 * closed and reopened with backoff until frames come back or `read`'s signal aborts.
 */
export class LiveCapture implements FrameSource {
  readonly live = true;
  private outage: { since: number; attempts: number } | undefined;

  /** `capture` is the first one, opened by the caller: a source that cannot be opened at start fails the start. */
  constructor(
    private capture: VideoCapture | undefined,
    private readonly reopenCapture: Reopen,
    readonly description: string,
    private readonly timeoutMs: number,
    private readonly listener?: LiveSourceListener,
    private readonly backoff = new Backoff(),
  ) {}

  async read(signal?: AbortSignal): Promise<Mat | undefined> {
    while (!signal?.aborted) {
      if (!this.capture) {
        await this.reopen(signal);
        continue;
      }
      const frame = await this.next(this.capture);
      if (frame) {
        this.recovered();
        return frame;
      }
    }
    return undefined;
  }

  close(): void {
    this.capture?.release();
    this.capture = undefined;
  }

  /** The next frame, or undefined once the capture broke (it is then closed). */
  private async next(capture: VideoCapture): Promise<Mat | undefined> {
    const started = Date.now();
    let problem: string;
    try {
      const frame = await capture.readAsync();
      const tookMs = Date.now() - started;
      // A frame that took the whole timeout is one the decoder still held after FFmpeg's read
      // timed out: every further read would wait the timeout again for another such leftover.
      if (!frame.empty && tookMs < this.timeoutMs) return frame;
      frame.release();
      problem = tookMs >= this.timeoutMs ? `${this.description} sent nothing for ${this.timeoutMs} ms` : `${this.description} ended (its connection closed)`;
    } catch (err) {
      problem = `reading ${this.description} failed: ${(err as Error).message}`;
    }
    this.close();
    if (this.outage) this.listener?.retryFailed(this.outage.attempts, problem);
    else {
      this.outage = { since: started, attempts: 0 };
      this.listener?.dropped(problem);
    }
    return undefined;
  }

  /** Waits its turn (an abort ends the wait at once), then tries to open the source again. */
  private async reopen(signal: AbortSignal | undefined): Promise<void> {
    const outage = (this.outage ??= { since: Date.now(), attempts: 0 });
    try {
      await sleep(this.backoff.next(), undefined, { signal });
    } catch {
      return; // aborted: read() sees the signal
    }
    outage.attempts++;
    try {
      this.capture = await this.reopenCapture(signal);
    } catch (err) {
      if (!signal?.aborted) this.listener?.retryFailed(outage.attempts, (err as Error).message);
    }
  }

  private recovered(): void {
    if (!this.outage) return;
    const { since, attempts } = this.outage;
    this.outage = undefined;
    this.backoff.reset();
    this.listener?.recovered(attempts, Date.now() - since);
  }
}
