import { randomUUID } from "node:crypto";
import { status, type Metadata, type ServerUnaryCall } from "@grpc/grpc-js";
import type { DescMethod } from "@bufbuild/protobuf";
/** What every kind of grpc-js server call has in common. */
export type ServerSurfaceCall = Pick<ServerUnaryCall<unknown, unknown>, "metadata" | "getPeer" | "getDeadline"> & {
  once(event: "cancelled", listener: () => void): unknown;
  removeListener(event: "cancelled", listener: () => void): unknown;
};
import { AppError } from "../errors.js";
import type { Logger } from "../logger.js";
import type { Authenticator } from "../auth/authenticator.js";
import type { CallContext } from "./context.js";
import { methodPath } from "./codec.js";

export const REQUEST_ID_HEADER = "x-request-id";

/** Builds a handler's CallContext: request id, deadline and cancellation, authenticated caller. */
export async function openCallContext(
  call: ServerSurfaceCall,
  method: DescMethod,
  isPublic: boolean,
  authenticator: Authenticator,
  logger: Logger,
  shutdownSignal: AbortSignal,
): Promise<{ ctx: CallContext; close: () => void }> {
  const metadata: Metadata = call.metadata;
  const requestId = validRequestId(metadata.get(REQUEST_ID_HEADER)[0]) ?? randomUUID();
  const deadline = toDate(call.getDeadline());
  const controller = new AbortController();
  const onCancel = () => controller.abort(new AppError(status.CANCELLED, "the client cancelled the call"));
  call.once("cancelled", onCancel);
  let timer: NodeJS.Timeout | undefined;
  if (deadline) {
    const remaining = deadline.getTime() - Date.now();
    if (remaining <= 0) throw new AppError(status.DEADLINE_EXCEEDED, "the call's deadline passed before it started");
    timer = setTimeout(
      () => controller.abort(new AppError(status.DEADLINE_EXCEEDED, "the call's deadline passed")),
      remaining,
    );
  }
  // Unary calls drain on shutdown; streams, which may never end by themselves, are ended.
  const signal = method.methodKind === "unary" ? controller.signal : AbortSignal.any([controller.signal, shutdownSignal]);
  const close = () => {
    clearTimeout(timer);
    call.removeListener("cancelled", onCancel);
  };
  try {
    const caller = await authenticator.authenticate(metadata, isPublic);
    const ctx: CallContext = {
      method,
      path: methodPath(method),
      requestId,
      metadata,
      peer: call.getPeer(),
      caller,
      deadline,
      signal,
      logger: logger.child({ requestId, rpc: method.name, caller: caller?.subject }),
    };
    return { ctx, close };
  } catch (err) {
    close();
    throw err;
  }
}

function toDate(deadline: Date | number): Date | undefined {
  const ms = deadline instanceof Date ? deadline.getTime() : deadline;
  return Number.isFinite(ms) ? new Date(ms) : undefined;
}

function validRequestId(value: unknown): string | undefined {
  return typeof value === "string" && /^[\w.:-]{1,128}$/.test(value) ? value : undefined;
}
