import type { ServiceImpl } from "../../runtime/grpc/context.js";
import { permissionDenied } from "../../runtime/errors.js";
import { type AuditPublisher } from "../../runtime/audit-publisher.js";
import type { CallContext } from "../../runtime/grpc/context.js";
import type { StreamFramesRequest, VisionService } from "../../../gen/rollcall/vision/v1/vision_pb.js";
import type { FrameProcessor } from "../domain/frames/frame-processor.js";
import { processStream, type Admit } from "../domain/frames/frame-stream.js";
import { frameInput, frameResponse } from "./frames.js";

/** StreamFrames: a device's live frames in, one answer per frame out. */
export function streamHandlers(processor: FrameProcessor, audit: AuditPublisher, queueLimit: number): ServiceImpl<typeof VisionService> {
  return {
    async *streamFrames(requests, ctx) {
      const caller = ctx.caller;
      if (caller?.kind !== "device" || !caller.organizationId) {
        throw await refuse(audit, ctx, "StreamFrames needs a device token (identity's IssueDeviceToken)");
      }
      const org = caller.organizationId;
      const device = caller.subject;
      let refusal: Promise<Error> | undefined;
      const admit = (request: StreamFramesRequest): Admit => {
        const frame = request.frame;
        if (!frame) return { outcome: processor.drop({ frameId: "", sequence: 0n }, "INVALID", "frame is required") };
        if (frame.deviceId !== device) {
          refusal = refuse(audit, ctx, `frame.device_id ${JSON.stringify(frame.deviceId.slice(0, 64))} is not this device (${device}); a device may only send its own frames`);
          throw new Error("refused");
        }
        return { frame: frameInput(org, frame) };
      };
      try {
        for await (const outcome of processStream(requests, admit, processor, queueLimit, ctx.signal)) yield frameResponse(outcome);
      } catch (err) {
        throw refusal ? await refusal : err;
      }
    },
  };
}

/** Audits a refused stream and returns the PERMISSION_DENIED to end it with. */
async function refuse(audit: AuditPublisher, ctx: CallContext, message: string): Promise<Error> {
  const { ip, userAgent } = ctx.client;
  await audit.publish({
    organizationId: ctx.caller?.organizationId,
    actor: ctx.caller ?? { kind: "system", subject: "" },
    action: "vision.frames.denied",
    entityType: "device",
    entityId: ctx.caller?.subject ?? "",
    outcome: "DENIED",
    ip,
    userAgent,
    detail: { reason: message },
  });
  return permissionDenied(message);
}
