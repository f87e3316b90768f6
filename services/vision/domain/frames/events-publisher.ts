import { create, toBinary } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { PlatformEventSchema } from "../../../../gen/rollcall/audit/v1/bus_pb.js";
import { Severity } from "../../../../gen/rollcall/audit/v1/types_pb.js";
import { RecognitionEventSchema } from "../../../../gen/rollcall/vision/v1/bus_pb.js";
import { subjects, type Bus } from "../../../runtime/bus/bus.js";
import { STREAMS } from "../../../runtime/bus/streams.js";
import type { RecognisedFace } from "../recognition.js";
import { nameUuid } from "./event-ids.js";

export interface SeenFace {
  organizationId: string;
  deviceId: string;
  frameId: string;
  sequence: bigint;
  captureTime: Date;
  eventId: string;
  face: RecognisedFace;
  /** The stored UNKNOWN crop, for unknown and low-confidence faces. */
  faceImageId?: string;
}

/**
 * Publishes what vision saw: a RecognitionEvent per face (RECOGNITIONS, for attendance) and an
 * UNKNOWN_FACE or LOW_CONFIDENCE platform event (EVENTS, for audit's notifications). Message
 * ids are the event ids, so a frame processed twice is stored once. A failed publish throws:
 * the frame is then retried, not half-reported.
 */
export class EventsPublisher {
  private ready: Promise<void> | undefined;

  constructor(private readonly bus: Bus) {}

  async publish(seen: SeenFace): Promise<void> {
    this.ready ??= Promise.all([this.bus.ensureStream(STREAMS.recognitions), this.bus.ensureStream(STREAMS.events)]).then(
      () => undefined,
      (err) => {
        this.ready = undefined;
        throw err;
      },
    );
    await this.ready;
    const { face } = seen;
    const now = timestampFromDate(new Date());
    const event = create(RecognitionEventSchema, {
      eventId: seen.eventId,
      organizationId: seen.organizationId,
      deviceId: seen.deviceId,
      userId: face.match?.userId,
      similarity: face.bestSimilarity,
      faceLabel: face.match?.faceLabel ?? 0n,
      captureTime: timestampFromDate(seen.captureTime),
      frameId: seen.frameId,
      sequence: seen.sequence,
      unknown: face.unknown,
      lowConfidence: face.lowConfidence,
      faceId: seen.faceImageId ?? "",
      box: { ...face.detection.box },
      recognizedAt: now,
    });
    await this.bus.publish(subjects.recognitions(seen.organizationId), toBinary(RecognitionEventSchema, event), { msgId: seen.eventId });
    if (!face.unknown && !face.lowConfidence) return;
    const type = face.unknown ? "UNKNOWN_FACE" : "LOW_CONFIDENCE";
    const platformEvent = create(PlatformEventSchema, {
      eventId: nameUuid(`${type}/${seen.eventId}`),
      organizationId: seen.organizationId,
      type,
      severity: Severity.WARNING,
      referenceId: seen.faceImageId ?? "",
      metadata: {
        deviceId: seen.deviceId,
        frameId: seen.frameId,
        recognitionEventId: seen.eventId,
        similarity: round(face.bestSimilarity),
        ...(face.bestUserId ? { candidateUserId: face.bestUserId } : {}),
      },
      occurredAt: timestampFromDate(seen.captureTime),
    });
    await this.bus.publish(subjects.events(seen.organizationId), toBinary(PlatformEventSchema, platformEvent), { msgId: platformEvent.eventId });
  }
}

function round(v: number): number {
  return Math.round(v * 1000) / 1000;
}
