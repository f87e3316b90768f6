import type { MessageInitShape } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import {
  EnrolRejectReason,
  FaceImageType,
  IndexKind,
  type DetectedFaceSchema,
  type FaceSchema,
  type IdentifiedFaceSchema,
  type IndexStatsSchema,
} from "../../../gen/rollcall/vision/v1/vision_pb.js";
import type { RejectReason } from "../domain/enrolment.js";
import type { FaceIndex } from "../domain/index/face-index.js";
import type { Detection } from "../domain/pipeline/detector.js";
import type { EmbeddingModel } from "../domain/pipeline/engine.js";
import type { RecognisedFace } from "../domain/recognition.js";
import type { FaceImageRow } from "../storage/faces-repo.js";

/** Domain values → generated message shapes. */

export function detectedFace(d: Detection): MessageInitShape<typeof DetectedFaceSchema> {
  return { box: { ...d.box }, score: d.score, landmarks: d.landmarks.map((p) => ({ x: p.x, y: p.y })) };
}

export function identifiedFace(f: RecognisedFace, eventId = ""): MessageInitShape<typeof IdentifiedFaceSchema> {
  return {
    face: detectedFace(f.detection),
    match: f.match ? { userId: f.match.userId, similarity: f.match.similarity, faceLabel: f.match.faceLabel } : undefined,
    unknown: f.unknown,
    lowConfidence: f.lowConfidence,
    eventId,
  };
}

export function face(row: FaceImageRow): MessageInitShape<typeof FaceSchema> {
  return {
    id: row.id,
    organizationId: row.organization_id,
    userId: row.user_id ?? "",
    imageType: row.image_type === "KNOWN" ? FaceImageType.KNOWN : FaceImageType.UNKNOWN,
    sha256: row.sha256,
    width: row.width,
    height: row.height,
    quality: row.quality,
    capturedAt: row.captured_at ? timestampFromDate(new Date(row.captured_at)) : undefined,
    deviceId: row.device_id ?? "",
    indexLabel: BigInt(row.index_label ?? 0),
    model: row.model ?? "",
    createdAt: timestampFromDate(new Date(row.created_at)),
  };
}

export function indexStats(index: FaceIndex, model: EmbeddingModel): MessageInitShape<typeof IndexStatsSchema> {
  return {
    organizationId: index.organizationId,
    count: BigInt(index.count),
    kind: index.kind === "FLAT" ? IndexKind.FLAT : IndexKind.HNSW,
    dimension: model.dimension,
    sizeBytes: BigInt(index.tier.sizeBytes()),
    builtAt: timestampFromDate(index.builtAt),
    model: model.name,
    modelSha256: model.sha256,
  };
}

export const REJECT_REASONS: Record<RejectReason, EnrolRejectReason> = {
  NO_FACE: EnrolRejectReason.NO_FACE,
  MULTIPLE_FACES: EnrolRejectReason.MULTIPLE_FACES,
  TOO_SMALL: EnrolRejectReason.TOO_SMALL,
  LOW_SCORE: EnrolRejectReason.LOW_SCORE,
  BLURRY: EnrolRejectReason.BLURRY,
  NOT_FRONTAL: EnrolRejectReason.NOT_FRONTAL,
  DUPLICATE: EnrolRejectReason.DUPLICATE,
  LIMIT_REACHED: EnrolRejectReason.LIMIT_REACHED,
  UNDECODABLE: EnrolRejectReason.UNDECODABLE,
  TOO_LARGE: EnrolRejectReason.TOO_LARGE,
};
