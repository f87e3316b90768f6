import { fromBinary } from "@bufbuild/protobuf";
import { FrameMessageSchema } from "../../../gen/rollcall/vision/v1/bus_pb.js";
import { DropReason, VisionService, type Frame, type StreamFramesResponse } from "../../../gen/rollcall/vision/v1/vision_pb.js";
import { createClient } from "../../../services/runtime/grpc/client.js";
import type { Logger } from "../../../services/runtime/logger.js";
import type { DeviceTokens } from "./device-token.js";
import { FrameStream } from "./frame-stream.js";
import type { Publisher } from "./outbox.js";
import type { OutgoingMessage } from "./spool.js";

export interface GrpcLinkOptions {
  /** vision's gRPC address, host:port. */
  address: string;
  /** How long vision may take to answer one frame (it recognises it first) before the stream counts as broken. */
  timeoutMs: number;
  logger: Logger;
}

/** What vision answered on this link, by outcome (diagnosis and tests). */
export interface AnswerCounts {
  processed: number;
  duplicate: number;
  overloaded: number;
  /** STALE or INVALID: dropped for good, sending again would not help. */
  rejected: number;
  matched: number;
  unknown: number;
}

/**
 * The agent's connection to vision over gRPC: one long-lived StreamFrames call with the device
 * token as bearer, opened with the first frame, again after any failure, and again when the
 * token is renewed (vision checks the token when a call starts). `publish` resolves once vision
 * has answered the frame, so the outbox spools whatever vision did not take.
 */
export class GrpcLink implements Publisher {
  private readonly client: ReturnType<typeof createClient<typeof VisionService>>;
  private stream: FrameStream | undefined;
  private closed = false;
  readonly answers: AnswerCounts = { processed: 0, duplicate: 0, overloaded: 0, rejected: 0, matched: 0, unknown: 0 };

  constructor(private readonly tokens: DeviceTokens, private readonly options: GrpcLinkOptions) {
    // No default deadline: the call lives as long as the agent; each frame has its own timeout.
    this.client = createClient(VisionService, options.address);
  }

  get connected(): boolean {
    return this.stream?.usable ?? false;
  }

  async publish(message: OutgoingMessage): Promise<void> {
    if (this.closed) throw new Error("the gRPC link to vision is closed");
    const frame = frameOf(message);
    if (!frame) {
      // Retrying cannot repair it, and it would hold up everything behind it.
      this.options.logger.error({ msgId: message.msgId }, "outgoing message is not a FrameMessage with a frame; dropped");
      return;
    }
    const { token } = await this.tokens.get();
    const answer = await this.streamWith(token).send(frame, this.options.timeoutMs);
    this.count(answer);
    switch (answer.droppedReason) {
      case DropReason.OVERLOADED:
        throw new Error(`vision is overloaded and dropped frame ${frame.frameId}: ${answer.detail}`);
      case DropReason.STALE:
      case DropReason.INVALID:
        this.options.logger.warn({ frameId: frame.frameId, reason: DropReason[answer.droppedReason], detail: answer.detail }, "vision dropped the frame; not sent again");
        break;
      default:
        this.options.logger.debug({ frameId: frame.frameId, faces: answer.faces.length, duplicate: answer.droppedReason === DropReason.DUPLICATE }, "vision answered the frame");
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    const stream = this.stream;
    this.stream = undefined;
    await stream?.end(this.options.timeoutMs);
    this.client.close();
  }

  private streamWith(token: string): FrameStream {
    const current = this.stream;
    if (current?.usable && current.token === token) return current;
    if (current?.usable) {
      this.options.logger.debug("device token renewed; reopening the frame stream to vision");
      // Frames already sent on it are still answered before it ends.
      void current.end(this.options.timeoutMs);
    }
    this.stream = new FrameStream(this.client, token, this.options.logger);
    return this.stream;
  }

  private count(answer: StreamFramesResponse): void {
    const counts = this.answers;
    if (answer.droppedReason === DropReason.UNSPECIFIED) counts.processed++;
    else if (answer.droppedReason === DropReason.DUPLICATE) counts.duplicate++;
    else if (answer.droppedReason === DropReason.OVERLOADED) counts.overloaded++;
    else counts.rejected++;
    for (const face of answer.faces) {
      if (face.match && !face.unknown) counts.matched++;
      else counts.unknown++;
    }
  }
}

function frameOf(message: OutgoingMessage): Frame | undefined {
  try {
    return fromBinary(FrameMessageSchema, message.data).frame;
  } catch {
    return undefined;
  }
}
