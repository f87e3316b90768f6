import type { MessageInitShape } from "@bufbuild/protobuf";
import { timestampDate, timestampFromDate } from "@bufbuild/protobuf/wkt";
import { DropReason, type Frame, type StreamFramesResponseSchema } from "../../../gen/rollcall/vision/v1/vision_pb.js";
import type { FrameInput, FrameOutcome } from "../domain/frames/frame-processor.js";
import { identifiedFace } from "./convert.js";

/** Frames as the contract carries them ↔ the frame processor's terms; shared by stream and queue. */

export function frameInput(organizationId: string, frame: Frame): FrameInput {
  const payload = frame.payload;
  return {
    organizationId,
    deviceId: frame.deviceId,
    frameId: frame.frameId,
    sequence: frame.sequence,
    captureTime: frame.captureTime ? timestampDate(frame.captureTime) : undefined,
    image: payload.case === "image" ? payload.value : undefined,
    crops:
      payload.case === "crops"
        ? payload.value.crops.map((c) => ({ image: c.image, landmarks: c.landmarks.map((p) => ({ x: p.x, y: p.y })), box: c.box && { ...c.box }, score: c.score }))
        : undefined,
  };
}

const DROP_REASONS = { STALE: DropReason.STALE, OVERLOADED: DropReason.OVERLOADED, DUPLICATE: DropReason.DUPLICATE, INVALID: DropReason.INVALID };

export function frameResponse(outcome: FrameOutcome): MessageInitShape<typeof StreamFramesResponseSchema> {
  return {
    frameId: outcome.frameId,
    sequence: outcome.sequence,
    faces: outcome.faces.map((f) => identifiedFace(f.face, f.eventId)),
    droppedReason: outcome.dropped ? DROP_REASONS[outcome.dropped] : DropReason.UNSPECIFIED,
    detail: outcome.detail,
    processedAt: timestampFromDate(outcome.processedAt),
  };
}
