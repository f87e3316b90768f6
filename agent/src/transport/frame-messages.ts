import { randomUUID } from "node:crypto";
import { create, toBinary, type MessageInitShape } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { FrameMessageSchema } from "../../../gen/rollcall/vision/v1/bus_pb.js";
import type { FaceCropsSchema, FrameSchema } from "../../../gen/rollcall/vision/v1/vision_pb.js";
import { subjects } from "../../../services/runtime/bus/bus.js";
import type { OutgoingMessage } from "./spool.js";

export type CropsInit = MessageInitShape<typeof FaceCropsSchema>;

/**
 * FrameMessages as vision's FRAMES consumer reads them: subject `frames.{org}.{device}`, a fresh
 * frame id (also the JetStream message id, so a retried publish is stored once), and a sequence
 * that only grows for this device.
 */
export class FrameMessages {
  constructor(
    private readonly organizationId: string,
    private readonly deviceId: string,
    /**
     * The last sequence used. Each run counts from 1 again: vision accepts a lower sequence when
     * its capture time is newer (the agent restarted).
     */
    private sequence = 0n,
  ) {}

  get lastSequence(): bigint {
    return this.sequence;
  }

  crops(captureTime: Date, crops: CropsInit): OutgoingMessage {
    return this.build(captureTime, { case: "crops", value: crops });
  }

  image(captureTime: Date, jpeg: Uint8Array): OutgoingMessage {
    return this.build(captureTime, { case: "image", value: jpeg });
  }

  private build(captureTime: Date, payload: MessageInitShape<typeof FrameSchema>["payload"]): OutgoingMessage {
    const frameId = randomUUID();
    const message = create(FrameMessageSchema, {
      organizationId: this.organizationId,
      publishedAt: timestampFromDate(new Date()),
      frame: { deviceId: this.deviceId, frameId, sequence: ++this.sequence, captureTime: timestampFromDate(captureTime), payload },
    });
    return { subject: subjects.frames(this.organizationId, this.deviceId), msgId: frameId, data: toBinary(FrameMessageSchema, message) };
  }
}
