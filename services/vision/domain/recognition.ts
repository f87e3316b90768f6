import type { Database } from "../../runtime/db/index.js";
import type { FacesRepo } from "../storage/faces-repo.js";
import { bytesToVector } from "../storage/faces-repo.js";
import type { IndexRegistry } from "./index/index-registry.js";
import type { DecodedImage } from "./pipeline/decode.js";
import type { Detection } from "./pipeline/detector.js";
import { cosine } from "./pipeline/embedder.js";
import type { AnalysedFace, FaceEngine } from "./pipeline/engine.js";
import type { FaceQuality } from "./pipeline/quality.js";
import type { Thresholds } from "./thresholds.js";

export interface RecognisedFace {
  detection: Detection;
  quality: FaceQuality;
  embedding: Float32Array;
  /** Set when the best enrolled face reaches the threshold. */
  match?: { userId: string; faceLabel: bigint; similarity: number };
  /** Best similarity found, matched or not; -1 when the index is empty. */
  bestSimilarity: number;
  bestUserId?: string;
  unknown: boolean;
  lowConfidence: boolean;
}

export interface VerifyOutcome {
  similarity: number;
  match: boolean;
  face?: Detection;
}

/** Faces this small (px) are matched, but flagged low-confidence: too few pixels to be sure. */
const SMALL_FACE_PX = 48;

export class Recognition {
  constructor(
    private readonly engine: FaceEngine,
    private readonly db: Database,
    private readonly repo: FacesRepo,
    private readonly registry: IndexRegistry,
    /** Identify ignores faces the detector scores below this. */
    private readonly minScore: number,
  ) {}

  /** Every face (largest first, at most maxFaces), each with its best match or unknown. */
  async identify(organizationId: string, image: DecodedImage, thresholds: Thresholds, maxFaces = 100): Promise<RecognisedFace[]> {
    const detections = await this.engine.detect(image, { minScore: this.minScore, maxFaces });
    if (detections.length === 0) return [];
    return this.match(organizationId, await this.engine.analyse(image, detections), thresholds);
  }

  /** Faces already embedded (e.g. crops sent by an agent) against the organisation's index. */
  async match(organizationId: string, faces: readonly AnalysedFace[], thresholds: Thresholds): Promise<RecognisedFace[]> {
    if (faces.length === 0) return [];
    const index = await this.registry.get(organizationId);
    return faces.map((face) => {
      const best = index.search(face.embedding, 1)[0];
      const similarity = best?.similarity ?? -1;
      const matched = best !== undefined && similarity >= thresholds.match;
      return {
        detection: face.detection,
        quality: face.quality,
        embedding: face.embedding,
        match: matched ? { userId: best.userId, faceLabel: best.faceLabel, similarity } : undefined,
        bestSimilarity: similarity,
        bestUserId: best?.userId,
        unknown: !matched,
        lowConfidence: matched && (similarity < thresholds.match + thresholds.lowConfidenceMargin || face.quality.facePx < SMALL_FACE_PX),
      };
    });
  }

  /**
   * The largest face against every enrolled face of one user, exactly (from Postgres, not the
   * index). Undefined when the user has no enrolled face.
   */
  async verify(organizationId: string, userId: string, image: DecodedImage, thresholds: Thresholds): Promise<VerifyOutcome | undefined> {
    const enrolled = await this.db.withTenant(organizationId, (tx) => this.repo.userEmbeddings(tx, userId, this.engine.model.name));
    if (enrolled.length === 0) return undefined;
    const [largest] = await this.engine.detect(image, { minScore: this.minScore, maxFaces: 1 });
    if (!largest) return { similarity: -1, match: false };
    const [face] = await this.engine.analyse(image, [largest]);
    const similarity = Math.max(...enrolled.map((e) => cosine(bytesToVector(e.vector), face!.embedding)));
    return { similarity, match: similarity >= thresholds.match, face: largest };
  }
}
