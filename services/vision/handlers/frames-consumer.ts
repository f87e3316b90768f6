import { fromBinary } from "@bufbuild/protobuf";
import { FrameMessageSchema } from "../../../gen/rollcall/vision/v1/bus_pb.js";
import type { AuditPublisher } from "../../runtime/audit-publisher.js";
import type { Bus, BusMessage, Consumer, MessageOutcome } from "../../runtime/bus/bus.js";
import { STREAMS } from "../../runtime/bus/streams.js";
import type { Logger } from "../../runtime/logger.js";
import type { FrameProcessor } from "../domain/frames/frame-processor.js";
import { frameInput } from "./frames.js";

export const FRAMES_DURABLE = "vision-frames";

/**
 * The FRAMES work queue (`frames.{org}.{device}`): each frame is processed once by one replica.
 * At most `maxAckPending` frames are out of the stream at a time, so a slow vision holds the
 * rest in JetStream rather than in memory. A frame whose payload names another organisation or
 * device than its subject is rejected for good and audited; a frame that fails to process is
 * redelivered (bounded by maxDeliver) and yields the same event ids again.
 */
export async function consumeFrames(bus: Bus, processor: FrameProcessor, audit: AuditPublisher, logger: Logger): Promise<Consumer> {
  await bus.ensureStream(STREAMS.frames);
  const consumer = bus.consume(
    { stream: STREAMS.frames.name, durable: FRAMES_DURABLE, filterSubject: "frames.>", batchSize: 4, maxAckPending: 16, maxDeliver: 3, ackWaitMs: 30_000 },
    async (messages) => {
      const outcomes: MessageOutcome[] = [];
      for (const message of messages) outcomes.push(await handle(message));
      return outcomes;
    },
  );
  await consumer.ready;
  return consumer;

  async function handle(message: BusMessage): Promise<MessageOutcome> {
    const [, org, device] = message.subject.split(".");
    let payload;
    try {
      payload = fromBinary(FrameMessageSchema, message.data);
    } catch (err) {
      logger.warn({ err, subject: message.subject }, "frame message is not a FrameMessage; rejected");
      return "reject";
    }
    const frame = payload.frame;
    if (!frame || payload.organizationId !== org || frame.deviceId !== device) {
      await audit.publish({
        organizationId: org,
        actor: { kind: "device", subject: device ?? "" },
        action: "vision.frames.denied",
        entityType: "device",
        entityId: device ?? "",
        outcome: "DENIED",
        detail: { reason: "the frame's organisation or device does not match its subject", subject: message.subject, organizationId: payload.organizationId, deviceId: frame?.deviceId ?? "" },
      });
      return "reject";
    }
    try {
      const outcome = await processor.process(frameInput(org!, frame));
      if (outcome.dropped) logger.debug({ subject: message.subject, frameId: frame.frameId, reason: outcome.dropped, detail: outcome.detail }, "frame dropped");
      return "ack";
    } catch (err) {
      logger.warn({ err, subject: message.subject, frameId: frame.frameId, delivery: message.deliveryCount }, "frame processing failed; it will be redelivered");
      return "retry";
    }
  }
}
