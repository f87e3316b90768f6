import { EventEmitter, once } from "node:events";
import { AsyncQueue } from "./async-queue.js";
import type { FrameInput, FrameOutcome, FrameProcessor } from "./frame-processor.js";

/** What the reader does with a request that is not a well-formed frame of this device. */
export type Admit = { frame: FrameInput } | { outcome: FrameOutcome };

/**
 * One camera stream: frames are read as they arrive into a queue of at most `queueLimit`;
 * frames arriving to a full queue are answered OVERLOADED at once (fresh frames matter more
 * than old ones), and frames that waited too long are dropped STALE by the processor. Answers
 * leave in processing order. When the client stops reading answers, reading stops too, so
 * HTTP/2 flow control holds the camera back: memory stays bounded either way.
 */
export async function* processStream<R>(
  requests: AsyncIterable<R>,
  admit: (request: R) => Admit,
  processor: FrameProcessor,
  queueLimit: number,
  signal: AbortSignal,
): AsyncIterable<FrameOutcome> {
  const pending = new AsyncQueue<FrameInput>();
  const answers = new AsyncQueue<FrameOutcome>();
  const answersTaken = new EventEmitter();
  let failure: unknown;

  const reader = (async () => {
    for await (const request of requests) {
      if (signal.aborted) break;
      while (answers.length >= 4 * queueLimit) await once(answersTaken, "taken", { signal });
      const admitted = admit(request);
      if ("outcome" in admitted) answers.push(admitted.outcome);
      else if (pending.length >= queueLimit) answers.push(processor.drop(admitted.frame, "OVERLOADED", `${queueLimit} frames already waiting; frame dropped`));
      else pending.push(admitted.frame);
    }
  })()
    .catch((err) => (failure ??= err))
    .finally(() => pending.close());

  const worker = (async () => {
    for await (const frame of pending) answers.push(await processor.process(frame));
  })()
    .catch((err) => (failure ??= err))
    .finally(() => answers.close());

  for await (const answer of answers) {
    answersTaken.emit("taken");
    yield answer;
  }
  // A failed worker ends the call at once; the reader then ends with the call's request stream.
  if (failure) throw failure;
  await Promise.all([reader, worker]);
  if (failure) throw failure;
}
