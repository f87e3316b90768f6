/**
 * Closed-loop load: `concurrency` workers each issue a call as soon as the previous one ends.
 * A warm-up phase runs first and is not measured (JIT, connection setup, caches).
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
        if (record) {
          record.errors.count++;
          record.errors.first ??= err instanceof Error ? err.message : String(err);
        }
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
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
