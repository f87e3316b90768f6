import path from "node:path";
import { loadVisionConfig } from "../../services/vision/config.js";
import { FaceEngine } from "../../services/vision/domain/pipeline/engine.js";
import { loadVerifiedModels } from "../../services/vision/domain/pipeline/models.js";
import { createSession, ort } from "../../services/vision/domain/pipeline/onnx.js";
import { PIXELS_INPUT, withPixelsInput } from "../../services/vision/domain/pipeline/pixels-input.js";

/** The engine as the service builds it, from ROLLCALL_MODELS_DIR (default `models`, see `npm run models`). */
export async function benchEngine(overrides: Record<string, string> = {}): Promise<FaceEngine> {
  const config = loadVisionConfig({ ...process.env, ...overrides });
  return FaceEngine.load({ modelsDir: config.modelsDir, threads: config.threads, limits: { ...config.limits, maxMegapixels: 100 }, detectMaxSide: config.detectMaxSide });
}

/**
 * YuNet's session.run alone on a width x height frame's RGB bytes, the session made as the
 * detector makes it: the floor under "detect", which adds padding, output decoding and NMS.
 */
export async function bareDetectorRun(width: number, height: number, overrides: Record<string, string> = {}): Promise<() => Promise<unknown>> {
  const config = loadVisionConfig({ ...process.env, ...overrides });
  const session = await createSession(withPixelsInput((await loadVerifiedModels(config.modelsDir)).detector.bytes), config.threads);
  const pixels = new Uint8Array(width * height * 3).map((_, i) => (i * 7919) % 256);
  return () => session.run({ [PIXELS_INPUT]: new ort.Tensor("uint8", pixels, [1, height, width, 3]) });
}

/** Percentile of a sorted-in-place list of numbers. */
export function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

export interface Timings {
  /** Wall-clock milliseconds of each run. */
  ms: number[];
  /** CPU milliseconds of the whole process per run (every thread: onnxruntime's, libvips'): less
   * sensitive than wall time to other work on the machine. */
  cpuMs: number;
}

/** Runs fn `warmup` times unmeasured, then `n` times; each run's wall time and the CPU time per run. */
export async function timeRuns(n: number, warmup: number, fn: () => Promise<unknown> | unknown): Promise<Timings> {
  for (let i = 0; i < warmup; i++) await fn();
  const ms: number[] = [];
  const cpu = process.cpuUsage();
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await fn();
    ms.push(performance.now() - t);
  }
  const used = process.cpuUsage(cpu);
  return { ms, cpuMs: (used.user + used.system) / 1000 / n };
}

export const SHARED_FACES = path.resolve("..", "shared", "faces");
