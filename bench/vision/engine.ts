import path from "node:path";
import { loadVisionConfig } from "../../services/vision/config.js";
import { FaceEngine } from "../../services/vision/domain/pipeline/engine.js";

/** The engine as the service builds it, from ROLLCALL_MODELS_DIR (default `models`, see `npm run models`). */
export async function benchEngine(overrides: Record<string, string> = {}): Promise<FaceEngine> {
  const config = loadVisionConfig({ ...process.env, ...overrides });
  return FaceEngine.load({ modelsDir: config.modelsDir, threads: config.threads, limits: { ...config.limits, maxMegapixels: 100 }, detectMaxSide: config.detectMaxSide });
}

/** Percentile of a sorted-in-place list of numbers. */
export function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** Runs fn `warmup` times unmeasured, then `n` times; returns each run's milliseconds. */
export async function timeRuns(n: number, warmup: number, fn: () => Promise<unknown> | unknown): Promise<number[]> {
  for (let i = 0; i < warmup; i++) await fn();
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await fn();
    out.push(performance.now() - t);
  }
  return out;
}

export const SHARED_FACES = path.resolve("..", "shared", "faces");
