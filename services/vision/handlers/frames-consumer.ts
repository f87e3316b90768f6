import { fromBinary } from "@bufbuild/protobuf";
import { status } from "@grpc/grpc-js";
import { FrameMessageSchema } from "../../../gen/rollcall/vision/v1/bus_pb.js";
import type { AuditPublisher } from "../../runtime/audit-publisher.js";
import type { Authenticator } from "../../runtime/auth/authenticator.js";
import { AppError } from "../../runtime/errors.js";
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
 * device than its subject, or whose `authorization` header is not that device's token (identity's
 * IssueDeviceToken), is rejected for good and audited; a frame that fails to process is
 * redelivered (bounded by maxDeliver) and yields the same event ids again.
 */
export async function consumeFrames(bus: Bus, processor: FrameProcessor, audit: AuditPublisher, logger: Logger, authenticator: Authenticator): Promise<Consumer> {
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
    const deny = async (reason: string) => {
      await audit.publish({
        organizationId: org,
        actor: { kind: "device", subject: device ?? "" },
        action: "vision.frames.denied",
        entityType: "device",
        entityId: device ?? "",
        outcome: "DENIED",
        detail: { reason, subject: message.subject, organizationId: payload.organizationId, deviceId: frame?.deviceId ?? "" },
      });
      return "reject" as const;
    };
    if (!frame || payload.organizationId !== org || frame.deviceId !== device) {
      return deny("the frame's organisation or device does not match its subject");
    }
    let caller;
    try {
      caller = await authenticator.authenticateHeader(header(message, "authorization"), "a frame message");
    } catch (err) {
      // Identity's keys out of reach is not the device's fault: try again later.
      if (err instanceof AppError && err.code === status.UNAVAILABLE) return "retry";
      return deny(`device token refused: ${(err as Error).message}`);
    }
    if (caller.kind !== "device" || caller.organizationId !== org || caller.subject !== device) {
      return deny(`the token is not this device's (${caller.kind} ${caller.subject} of ${caller.organizationId ?? "no organisation"})`);
    }
    try {
      const outcome = await processor.process({ ...frameInput(org!, frame), redelivered: message.deliveryCount > 1 });
      if (outcome.dropped) logger.debug({ subject: message.subject, frameId: frame.frameId, reason: outcome.dropped, detail: outcome.detail }, "frame dropped");
      return "ack";
    } catch (err) {
      logger.warn({ err, subject: message.subject, frameId: frame.frameId, delivery: message.deliveryCount }, "frame processing failed; it will be redelivered");
      return "retry";
    }
  }
}

/** NATS header names are case-sensitive on the wire; HTTP habits are not. */
function header(message: BusMessage, name: string): string | undefined {
  const key = Object.keys(message.headers).find((k) => k.toLowerCase() === name);
  return key === undefined ? undefined : message.headers[key];
}
