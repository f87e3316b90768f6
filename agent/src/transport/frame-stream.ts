import type { MessageInitShape } from "@bufbuild/protobuf";
import type { Frame, StreamFramesRequestSchema, StreamFramesResponse, VisionService } from "../../../gen/rollcall/vision/v1/vision_pb.js";
import type { RpcClient } from "../../../services/runtime/grpc/client.js";
import type { Logger } from "../../../services/runtime/logger.js";

type Request = MessageInitShape<typeof StreamFramesRequestSchema>;

interface Waiter {
  resolve(answer: StreamFramesResponse): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout;
}

/**
 * One StreamFrames call with one bearer token: frames go out as `send` is called, and each
 * promise settles with vision's answer to that frame_id. Any failure (an error from vision, the
 * call ending, an answer not arriving in time) fails every waiting frame and the whole call:
 * the caller opens a new one, so a half-dead connection is never reused.
 */
export class FrameStream {
  private readonly requests = new RequestQueue<Request>();
  private readonly waiting = new Map<string, Waiter>();
  private readonly abort = new AbortController();
  private ending = false;
  private failure: Error | undefined;
  private readonly finished: Promise<void>;

  constructor(client: RpcClient<typeof VisionService>, readonly token: string, private readonly logger: Logger) {
    this.finished = this.read(client.streamFrames(this.requests, { bearer: token, signal: this.abort.signal }));
  }

  /** Takes frames: neither failed nor half-closed. */
  get usable(): boolean {
    return !this.ending && !this.failure;
  }

  send(frame: Frame, timeoutMs: number): Promise<StreamFramesResponse> {
    if (!this.usable) return Promise.reject(this.failure ?? new Error("the frame stream to vision is closing"));
    if (this.waiting.has(frame.frameId)) return Promise.reject(new Error(`frame ${frame.frameId} is already waiting for vision's answer`));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => this.fail(new Error(`vision did not answer frame ${frame.frameId} within ${timeoutMs} ms`)), timeoutMs);
      this.waiting.set(frame.frameId, { resolve, reject, timer });
      this.requests.push({ frame });
    });
  }

  /** Half-closes: vision answers what it already has, then ends the call; cancelled after `graceMs`. */
  async end(graceMs: number): Promise<void> {
    this.ending = true;
    this.requests.end();
    const timer = setTimeout(() => this.fail(new Error("the frame stream to vision was closed")), graceMs);
    await this.finished;
    clearTimeout(timer);
  }

  private async read(answers: AsyncIterable<StreamFramesResponse>): Promise<void> {
    try {
      for await (const answer of answers) {
        const waiter = this.waiting.get(answer.frameId);
        // An answer to a frame already given up on: the outbox retries it, vision says DUPLICATE.
        if (!waiter) continue;
        this.waiting.delete(answer.frameId);
        clearTimeout(waiter.timer);
        waiter.resolve(answer);
      }
      this.fail(new Error("vision ended the frame stream"));
    } catch (err) {
      this.fail(new Error(`the frame stream to vision failed: ${(err as Error).message}`, { cause: err }));
    }
  }

  private fail(err: Error): void {
    if (this.failure) return;
    this.failure = err;
    if (!this.ending || this.waiting.size > 0) this.logger.debug({ err: err.message, waiting: this.waiting.size }, "frame stream to vision ended");
    for (const waiter of this.waiting.values()) {
      clearTimeout(waiter.timer);
      waiter.reject(err);
    }
    this.waiting.clear();
    this.requests.end();
    this.abort.abort();
  }
}

/** The call's request side: pushed to by `send`, read by the gRPC client; `end` half-closes. */
class RequestQueue<T> implements AsyncIterable<T> {
  private readonly items: T[] = [];
  private wake: (() => void) | undefined;
  private ended = false;

  push(item: T): void {
    if (this.ended) return;
    this.items.push(item);
    this.wake?.();
  }

  end(): void {
    this.ended = true;
    this.wake?.();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    for (;;) {
      const item = this.items.shift();
      if (item !== undefined) yield item;
      else if (this.ended) return;
      else await new Promise<void>((resolve) => (this.wake = resolve)).finally(() => (this.wake = undefined));
    }
  }
}
