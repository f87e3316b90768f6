import { loadVerifiedModels } from "./models.js";
import { createSession } from "./onnx.js";
import { decodeImage, type ImageFormat, type ImageLimits, type RgbImage } from "./decode.js";
import { FaceDetector, type Detection } from "./detector.js";
import { alignFace } from "./align.js";
import { EMBEDDING_DIM, FaceEmbedder } from "./embedder.js";
import { measureQuality, type FaceQuality } from "./quality.js";

export interface EngineOptions {
  modelsDir: string;
  threads: number;
  limits: ImageLimits;
  detectMaxSide: number;
}

/** A detected face with everything the later stages need. */
export interface AnalysedFace {
  detection: Detection;
  /** L2-normalised. */
  embedding: Float32Array;
  quality: FaceQuality;
}

export interface EmbeddingModel {
  /** e.g. "mobilefacenet-128@85cdeb73": stored with every vector. */
  name: string;
  sha256: string;
  dimension: number;
}

export const DEFAULT_MIN_SCORE = 0.5;

/**
 * The recognition pipeline: decode → detect (YuNet) → align (5-point similarity) → embed
 * (MobileFaceNet, batched). One per process; its ONNX sessions are created once and reused.
 */
export class FaceEngine {
  private constructor(
    private readonly detector: FaceDetector,
    private readonly embedder: FaceEmbedder,
    readonly model: EmbeddingModel,
    private readonly options: EngineOptions,
  ) {}

  static async load(options: EngineOptions): Promise<FaceEngine> {
    const models = await loadVerifiedModels(options.modelsDir);
    const [detector, embedder] = await Promise.all([
      createSession(models.detector.bytes, options.threads),
      createSession(models.embedder.bytes, options.threads),
    ]);
    const { model } = models.embedder;
    return new FaceEngine(
      new FaceDetector(detector),
      new FaceEmbedder(embedder),
      { name: `${model.name}@${model.sha256.slice(0, 8)}`, sha256: model.sha256, dimension: EMBEDDING_DIM },
      options,
    );
  }

  decode(bytes: Uint8Array, limits: ImageLimits = this.options.limits): Promise<RgbImage & { format: ImageFormat }> {
    return decodeImage(bytes, limits);
  }

  /** Faces scoring at least minScore, largest first, at most maxFaces. */
  async detect(image: RgbImage, options: { minScore?: number; maxFaces?: number; maxSide?: number } = {}): Promise<Detection[]> {
    const found = await this.detector.detect(image, {
      minScore: options.minScore || DEFAULT_MIN_SCORE,
      maxSide: options.maxSide ?? this.options.detectMaxSide,
    });
    return found.sort((a, b) => b.box.width * b.box.height - a.box.width * a.box.height).slice(0, options.maxFaces ?? 100);
  }

  /** Aligns and embeds the given faces of one image in one batch. */
  async analyse(image: RgbImage, detections: readonly Detection[]): Promise<AnalysedFace[]> {
    const aligned = detections.map((d) => alignFace(image, d.landmarks));
    const embeddings = await this.embedder.embed(aligned);
    return detections.map((detection, i) => ({ detection, embedding: embeddings[i]!, quality: measureQuality(detection, aligned[i]!) }));
  }
}
