import { loadVerifiedModels } from "./models.js";
import { createSession } from "./onnx.js";
import { decodeImage, DecodedImage, type ImageFormat, type ImageLimits, type RgbImage } from "./decode.js";
import { FaceDetector, type Detection, type Point } from "./detector.js";
import { alignFace, alignmentScale } from "./align.js";
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
 * A face is aligned from the reduced pixels when they hold at least this many image pixels per
 * crop pixel (the crop is not enlarged from them); smaller faces are aligned from the full image.
 */
const MAX_ALIGN_ENLARGEMENT = 1;

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
      FaceDetector.create(models.detector.bytes, options.threads),
      createSession(models.embedder.bytes, options.threads),
    ]);
    const { model } = models.embedder;
    return new FaceEngine(
      detector,
      new FaceEmbedder(embedder),
      { name: `${model.name}@${model.sha256.slice(0, 8)}`, sha256: model.sha256, dimension: EMBEDDING_DIM },
      options,
    );
  }

  /** Checks and decodes an image, reduced for detection (see DecodedImage). */
  decode(bytes: Uint8Array, limits: ImageLimits = this.options.limits): Promise<DecodedImage & { format: ImageFormat }> {
    return decodeImage(bytes, limits, this.options.detectMaxSide);
  }

  /** Faces scoring at least minScore, largest first, at most maxFaces; boxes in full-image pixels. */
  async detect(image: DecodedImage | RgbImage, options: { minScore?: number; maxFaces?: number; maxSide?: number } = {}): Promise<Detection[]> {
    const found = await this.detector.detect(DecodedImage.fromPixels(image), {
      minScore: options.minScore || DEFAULT_MIN_SCORE,
      maxSide: options.maxSide ?? this.options.detectMaxSide,
    });
    return found.sort((a, b) => b.box.width * b.box.height - a.box.width * a.box.height).slice(0, options.maxFaces ?? 100);
  }

  /** Aligns and embeds the given faces of one image in one batch. */
  async analyse(image: DecodedImage | RgbImage, detections: readonly Detection[]): Promise<AnalysedFace[]> {
    const decoded = DecodedImage.fromPixels(image);
    const aligned = await Promise.all(detections.map((d) => alignFrom(decoded, d.landmarks)));
    const embeddings = await this.embedder.embed(aligned);
    return detections.map((detection, i) => ({ detection, embedding: embeddings[i]!, quality: measureQuality(detection, aligned[i]!) }));
  }
}

/** The face's crop from the reduced pixels when they are fine enough for it, else from the full image. */
async function alignFrom(image: DecodedImage, landmarks: readonly Point[]): Promise<Uint8Array> {
  if (image.isReduced) {
    const reduced = landmarks.map((p) => ({ x: p.x * image.scaleX, y: p.y * image.scaleY }));
    if (alignmentScale(reduced) <= MAX_ALIGN_ENLARGEMENT) return alignFace(image.reduced, reduced);
  }
  return alignFace(await image.full(), landmarks);
}
