/**
 * Two load models. Closed loop (`runLoad`): `concurrency` workers each issue a call as soon as the
 * previous one ends, which finds the saturation throughput (and its latency is then just
 * concurrency / throughput). Open model (`runAtRate`): calls arrive on a fixed schedule, which
 * measures the latency a given throughput gets. A warm-up phase runs first and is not measured.
 */
export interface LoadOptions {
  concurrency: number;
  durationMs: number;
  warmupMs: number;
  /** Stop early after this many measured calls (for expensive calls). */
  maxCalls?: number;
}

export interface LoadResult {
  calls: number;
  errors: number;
  firstError?: string;
  seconds: number;
  perSecond: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
}

export async function runLoad(call: () => Promise<unknown>, options: LoadOptions): Promise<LoadResult> {
  await phase(call, options.concurrency, options.warmupMs, undefined, undefined);
  const latencies: number[] = [];
  const errors = { count: 0, first: undefined as string | undefined };
  const started = process.hrtime.bigint();
  await phase(call, options.concurrency, options.durationMs, options.maxCalls, { latencies, errors });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  return summarize(latencies, errors.count, errors.first, seconds);
}

async function phase(
  call: () => Promise<unknown>,
  concurrency: number,
  durationMs: number,
  maxCalls: number | undefined,
  record: { latencies: number[]; errors: { count: number; first: string | undefined } } | undefined,
): Promise<void> {
  const end = Date.now() + durationMs;
  let issued = 0;
  const worker = async () => {
    while (Date.now() < end && (maxCalls === undefined || issued < maxCalls)) {
      issued++;
      const t0 = process.hrtime.bigint();
      try {
        await call();
        record?.latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
      } catch (err) {
        if (record) countError(record.errors, err);
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}

export interface RateOptions {
  ratePerSecond: number;
  /** Calls in flight at most (the clients); an arrival that finds all of them busy waits. */
  concurrency: number;
  durationMs: number;
}

/**
 * Open-model load: call i is due at start + i / rate. It starts then if a client is free, or as
 * soon as one frees up. Its latency counts from when it was due, not from when it started, so a
 * server that falls behind shows in the figures instead of slowing the schedule down (the
 * "coordinated omission" a closed loop has). calls/s is what completed over the whole run.
 */
export async function runAtRate(call: () => Promise<unknown>, options: RateOptions): Promise<LoadResult> {
  const total = Math.floor((options.ratePerSecond * options.durationMs) / 1000);
  const intervalNs = 1e9 / options.ratePerSecond;
  const latencies: number[] = [];
  const errors = { count: 0, first: undefined as string | undefined };
  const waiting: bigint[] = [];
  let free = options.concurrency;
  let done = 0;
  let finished!: () => void;
  const allDone = new Promise<void>((resolve) => (finished = resolve));
  const dispatch = () => {
    while (free > 0 && waiting.length > 0) {
      const due = waiting.shift()!;
      free--;
      call()
        .then(() => latencies.push(Number(process.hrtime.bigint() - due) / 1e6))
        .catch((err: unknown) => countError(errors, err))
        .finally(() => {
          free++;
          if (++done === total) finished();
          dispatch();
        });
    }
  };
  const started = process.hrtime.bigint();
  for (let i = 0; i < total; i++) {
    const due = started + BigInt(Math.round(i * intervalNs));
    const aheadMs = Number(due - process.hrtime.bigint()) / 1e6;
    if (aheadMs > 0) await new Promise((resolve) => setTimeout(resolve, aheadMs));
    waiting.push(due);
    dispatch();
  }
  if (total > 0) await allDone;
  return summarize(latencies, errors.count, errors.first, Number(process.hrtime.bigint() - started) / 1e9);
}

/** Counts a failed call, keeping the first error's message for the report. */
function countError(errors: { count: number; first: string | undefined }, err: unknown): void {
  errors.count++;
  errors.first ??= err instanceof Error ? err.message : String(err);
}

export function summarize(latencies: number[], errors: number, firstError: string | undefined, seconds: number): LoadResult {
  const sorted = Float64Array.from(latencies).sort();
  const at = (q: number) => (sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!);
  return {
    calls: sorted.length,
    errors,
    firstError,
    seconds,
    perSecond: sorted.length / seconds,
    p50Ms: at(0.5),
    p90Ms: at(0.9),
    p99Ms: at(0.99),
    maxMs: sorted.length === 0 ? NaN : sorted[sorted.length - 1]!,
  };
}
