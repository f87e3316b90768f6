import path from "node:path";
import { EnvReader } from "../runtime/config.js";
import type { HnswSettings } from "./domain/index/tiers.js";

/**
 * Vision's own settings, read from the environment at start and validated as a whole (like the
 * runtime's Config, whose file other services share).
 */
export interface VisionConfig {
  /** Where the ONNX models are; checked by sha256 at start. */
  modelsDir: string;
  /** onnxruntime intra-op threads per session (1 = one core per inference). */
  threads: number;
  /** Longest side an image is scaled to for detection: bigger finds smaller faces, slower. */
  detectMaxSide: number;
  limits: { maxBytes: number; maxMegapixels: number };
  /** Identify and camera frames ignore faces the detector scores below this. */
  minScore: number;
  /** Cosine similarity at or above which a face is a match (per-organisation overrides may follow). */
  matchThreshold: number;
  /** Matches below threshold + margin are flagged low-confidence. */
  lowConfidenceMargin: number;
  enrol: { faceLimit: number; minFacePx: number; minScore: number; minBlur: number; maxYaw: number; maxPitch: number };
  /** Faces in an organisation from which its index becomes approximate (HNSW). */
  annThreshold: number;
  /** HNSW search breadth: higher = better recall, slower. */
  annExpansionSearch: number;
  /** How the HNSW graph stores vectors: bf16 (default) halves memory and search time here; f32 is exact. */
  annQuantization: NonNullable<HnswSettings["quantization"]>;
  /**
   * Frames older than this when processed are dropped. A day by default: a sighting is
   * attendance evidence however late it arrives (an agent replaying its spool after an outage).
   */
  staleFrameMs: number;
  /** Frames being processed or waiting, per stream; beyond it new frames are dropped OVERLOADED. */
  streamQueue: number;
  /** How often a replica compares its loaded indexes with Postgres (catches missed change announcements). */
  indexSyncMs: number;
}

type Env = Record<string, string | undefined>;

export function loadVisionConfig(env: Env = process.env): VisionConfig {
  const read = new EnvReader(env);
  const number = (name: string, fallback: number, min: number, max: number) => read.number(name, fallback, min, max);
  const int = (name: string, fallback: number, min: number, max: number) => read.integer(name, fallback, min, max);
  const config: VisionConfig = {
    modelsDir: path.resolve(env.ROLLCALL_MODELS_DIR?.trim() || "models"),
    threads: int("ROLLCALL_VISION_THREADS", 1, 1, 64),
    detectMaxSide: int("ROLLCALL_VISION_DETECT_MAX_SIDE", 640, 160, 4096),
    limits: {
      maxBytes: int("ROLLCALL_VISION_MAX_IMAGE_BYTES", 8 * 1024 * 1024, 1024, 64 * 1024 * 1024),
      maxMegapixels: number("ROLLCALL_VISION_MAX_MEGAPIXELS", 25, 0.1, 100),
    },
    minScore: number("ROLLCALL_VISION_MIN_SCORE", 0.7, 0.05, 1),
    matchThreshold: number("ROLLCALL_VISION_MATCH_THRESHOLD", 0.45, -1, 1),
    lowConfidenceMargin: number("ROLLCALL_VISION_LOW_CONFIDENCE_MARGIN", 0.07, 0, 1),
    enrol: {
      faceLimit: int("ROLLCALL_VISION_FACE_LIMIT", 5, 1, 100),
      minFacePx: int("ROLLCALL_VISION_ENROL_MIN_FACE_PX", 112, 16, 4096),
      minScore: number("ROLLCALL_VISION_ENROL_MIN_SCORE", 0.8, 0, 1),
      minBlur: number("ROLLCALL_VISION_ENROL_MIN_BLUR", 60, 0, 100_000),
      maxYaw: number("ROLLCALL_VISION_ENROL_MAX_YAW", 35, 0, 90),
      maxPitch: number("ROLLCALL_VISION_ENROL_MAX_PITCH", 30, 0, 90),
    },
    annThreshold: int("ROLLCALL_VISION_ANN_THRESHOLD", 20_000, 1, 100_000_000),
    annExpansionSearch: int("ROLLCALL_VISION_ANN_EF", 128, 8, 4096),
    annQuantization: quantization(read.string("ROLLCALL_VISION_ANN_QUANTIZATION", "bf16"), read.problems),
    staleFrameMs: int("ROLLCALL_VISION_STALE_FRAME_MS", 86_400_000, 100, 7 * 86_400_000),
    streamQueue: int("ROLLCALL_VISION_STREAM_QUEUE", 8, 1, 1024),
    indexSyncMs: int("ROLLCALL_VISION_INDEX_SYNC_MS", 30_000, 100, 3_600_000),
  };
  read.check();
  return config;
}

const QUANTIZATIONS = ["bf16", "f16", "f32"] as const;

function quantization(value: string, problems: string[]): (typeof QUANTIZATIONS)[number] {
  const found = QUANTIZATIONS.find((q) => q === value.toLowerCase());
  if (!found) problems.push(`ROLLCALL_VISION_ANN_QUANTIZATION=${JSON.stringify(value)} must be one of ${QUANTIZATIONS.join(", ")}`);
  return found ?? "bf16";
}
