import { readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { loadVisionConfig, type VisionConfig } from "../../services/vision/config.js";
import { FaceEngine } from "../../services/vision/domain/pipeline/engine.js";

const REPO = path.resolve(fileURLToPath(new URL("../..", import.meta.url)));
/** ../shared beside the checkout holds the models and the labelled photos (never copied in). */
export const SHARED = path.resolve(REPO, "..", "shared");
export const MODELS_DIR = process.env.ROLLCALL_MODELS_DIR ? path.resolve(process.env.ROLLCALL_MODELS_DIR) : path.join(SHARED, "models");
export const FACES_DIR = path.join(SHARED, "faces");

export function testVisionConfig(env: Record<string, string> = {}): VisionConfig {
  return loadVisionConfig({ ROLLCALL_MODELS_DIR: MODELS_DIR, ...env });
}

let engine: Promise<FaceEngine> | undefined;
/** One engine for every vision test file (sessions are the slow part). */
export function testEngine(): Promise<FaceEngine> {
  const config = testVisionConfig();
  engine ??= FaceEngine.load({ modelsDir: config.modelsDir, threads: config.threads, limits: config.limits, detectMaxSide: config.detectMaxSide });
  return engine;
}

export function photo(relative: string): Promise<Buffer> {
  return readFile(path.join(FACES_DIR, relative));
}

/** identities.csv: file → identity. */
export function identities(): Map<string, string> {
  const text = readFileSync(path.join(FACES_DIR, "identities", "identities.csv"), "utf8");
  const rows = text.trim().split("\n").slice(1).map((line) => line.split(",").map((s) => s.trim()));
  return new Map(rows.map(([file, id]) => [file!, id!]));
}

/** The files of each identity, in csv order. */
export function filesByIdentity(): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const [file, id] of identities()) out.set(id, [...(out.get(id) ?? []), file]);
  return out;
}
