import type { Logger } from "../../../runtime/logger.js";
import type { VisionConfig } from "../../config.js";
import { ImageError, type DecodedImage } from "../pipeline/decode.js";
import type { Detection, Point } from "../pipeline/detector.js";
import type { AnalysedFace } from "../pipeline/engine.js";
import type { RecognisedFace } from "../recognition.js";
import type { VisionCore } from "../vision-core.js";
import { DeviceHistory } from "./device-history.js";
import { recognitionEventId } from "./event-ids.js";
import type { EventsPublisher } from "./events-publisher.js";
import { UnknownFaces } from "./unknown-faces.js";

export type DropReason = "STALE" | "OVERLOADED" | "DUPLICATE" | "INVALID";

export interface FaceCropInput {
  image: Uint8Array;
  landmarks: Point[];
  box?: Detection["box"];
  score: number;
}

/** A camera frame, as the gRPC stream and the FRAMES queue both carry it. */
export interface FrameInput {
  organizationId: string;
  deviceId: string;
  frameId: string;
  sequence: bigint;
  captureTime: Date | undefined;
  image?: Uint8Array;
  crops?: FaceCropInput[];
  /** Handed out again by the FRAMES queue: may arrive after later frames, and still counts. */
  redelivered?: boolean;
}

export interface FrameOutcome {
  frameId: string;
  sequence: bigint;
  faces: { face: RecognisedFace; eventId: string }[];
  dropped?: DropReason;
  detail: string;
  processedAt: Date;
}

export type DropCounts = Record<DropReason, number> & { processed: number };

const FRAME_LIMITS = { maxBytes: 1_000_000, maxMegapixels: 8.3 };
const CROP_LIMITS = { maxBytes: 64 * 1024, maxMegapixels: 512 * 512 / 1e6 };
const MAX_CROPS = 16;

class InvalidFrame extends Error {}

/** A face and the image region it was seen in (what is kept if nobody is recognised). */
export interface SeenFace {
  face: AnalysedFace;
  source: DecodedImage;
  region: Detection["box"];
}

/**
 * One frame → recognitions: checks it (shape, staleness, repeats), finds or takes its faces,
 * matches them, keeps crops of unknown and low-confidence faces, and publishes an event per face.
 */
export class FrameProcessor {
  readonly counts: DropCounts = { processed: 0, STALE: 0, OVERLOADED: 0, DUPLICATE: 0, INVALID: 0 };
  private readonly history = new DeviceHistory();
  private readonly unknownFaces: UnknownFaces;

  constructor(
    private readonly core: VisionCore,
    private readonly publisher: EventsPublisher,
    private readonly config: Pick<VisionConfig, "staleFrameMs">,
    private readonly logger: Logger,
    /** Told of every frame's fate (the module counts them in /metrics). */
    private readonly onOutcome: (outcome: DropReason | "processed") => void = () => {},
  ) {
    this.unknownFaces = new UnknownFaces(core.db, core.repo, core.images);
  }

  /** A frame refused without being looked at (e.g. the queue was full). */
  drop(frame: Pick<FrameInput, "frameId" | "sequence">, reason: DropReason, detail: string): FrameOutcome {
    this.counts[reason]++;
    this.onOutcome(reason);
    return { frameId: frame.frameId, sequence: frame.sequence, faces: [], dropped: reason, detail: detail.slice(0, 500), processedAt: new Date() };
  }

  async process(frame: FrameInput): Promise<FrameOutcome> {
    try {
      checkShape(frame);
    } catch (err) {
      if (err instanceof InvalidFrame) return this.drop(frame, "INVALID", err.message);
      throw err;
    }
    const captureMs = frame.captureTime!.getTime();
    const age = Date.now() - captureMs;
    if (age > this.config.staleFrameMs) return this.drop(frame, "STALE", `captured ${age} ms ago; frames older than ${this.config.staleFrameMs} ms are dropped`);
    const seen = this.history.check(frame.deviceId, frame.frameId, frame.sequence, captureMs, frame.redelivered);
    if (!seen.ok) return this.drop(frame, seen.reason, seen.detail);

    let seenFaces: SeenFace[];
    try {
      seenFaces = await this.facesOf(frame);
    } catch (err) {
      if (err instanceof InvalidFrame) return this.drop(frame, "INVALID", err.message);
      throw err;
    }
    const thresholds = await this.core.thresholds.forOrganization(frame.organizationId);
    const recognised = await this.core.recognition.match(frame.organizationId, seenFaces.map((f) => f.face), thresholds);
    const results: FrameOutcome["faces"] = [];
    for (const [i, face] of recognised.entries()) {
      const eventId = recognitionEventId(frame.deviceId, frame.frameId, i);
      const needsReview = face.unknown || face.lowConfidence;
      const faceImageId = needsReview
        ? await this.unknownFaces.save(frame.organizationId, eventId, face, seenFaces[i]!, frame.deviceId, frame.captureTime!)
        : undefined;
      await this.publisher.publish({ ...frame, captureTime: frame.captureTime!, eventId, face, faceImageId });
      results.push({ face, eventId });
    }
    // Recorded only once everything is published: a frame that failed half-way may be retried.
    this.history.record(frame.deviceId, frame.frameId, frame.sequence, captureMs);
    this.counts.processed++;
    this.onOutcome("processed");
    return { frameId: frame.frameId, sequence: frame.sequence, faces: results, detail: "", processedAt: new Date() };
  }

  /** Detected in the full frame, or taken from the agent's crops and their landmarks. */
  private async facesOf(frame: FrameInput): Promise<SeenFace[]> {
    const { engine, config } = this.core;
    if (frame.image) {
      const image = await decode(this.core, frame.image, FRAME_LIMITS, "image");
      const detections = await engine.detect(image, { minScore: config.minScore });
      return (await engine.analyse(image, detections)).map((face) => ({ face, source: image, region: face.detection.box }));
    }
    const seen: SeenFace[] = [];
    for (const [i, crop] of frame.crops!.entries()) {
      const image = await decode(this.core, crop.image, CROP_LIMITS, `crops[${i}].image`);
      const whole = { x: 0, y: 0, width: image.width, height: image.height };
      const [face] = await engine.analyse(image, [{ box: whole, score: crop.score, landmarks: crop.landmarks as Detection["landmarks"] }]);
      // Reported in frame pixels when the agent said where the crop lies; kept whole for review.
      seen.push({ face: { ...face!, detection: { ...face!.detection, box: crop.box ?? whole } }, source: image, region: whole });
    }
    return seen;
  }
}

function checkShape(frame: FrameInput): void {
  if (!frame.frameId || frame.frameId.length > 64) throw new InvalidFrame("frame_id must be 1–64 characters");
  if (frame.sequence < 1n) throw new InvalidFrame(`sequence must start at 1, got ${frame.sequence}`);
  if (!frame.captureTime) throw new InvalidFrame("capture_time is required");
  if (!frame.image === !frame.crops) throw new InvalidFrame("exactly one of image or crops is required");
  if (frame.crops) {
    if (frame.crops.length < 1 || frame.crops.length > MAX_CROPS) throw new InvalidFrame(`crops: send 1–${MAX_CROPS}, got ${frame.crops.length}`);
    frame.crops.forEach((c, i) => {
      if (c.landmarks.length !== 5) throw new InvalidFrame(`crops[${i}].landmarks: exactly 5 points are required, got ${c.landmarks.length}`);
    });
  }
}

async function decode(core: VisionCore, bytes: Uint8Array, limits: typeof FRAME_LIMITS, field: string): Promise<DecodedImage> {
  try {
    return await core.engine.decode(bytes, limits);
  } catch (err) {
    if (err instanceof ImageError) throw new InvalidFrame(`${field}: ${err.message}`);
    throw err;
  }
}
