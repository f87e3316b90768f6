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
  trustedProxies: ReadonlySet<string>,
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
      client: clientOf(metadata, call.getPeer(), trustedProxies),
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

function clientOf(metadata: Metadata, peer: string, trustedProxies: ReadonlySet<string>): { ip: string; userAgent: string } {
  const peerIp = peerAddress(peer);
  const forwarded = metadata.get("x-forwarded-for")[0];
  const ip = typeof forwarded === "string" && forwarded && trustedProxies.has(peerIp) ? forwarded.split(",")[0]!.trim() : peerIp;
  const userAgent = metadata.get("user-agent")[0];
  return { ip, userAgent: typeof userAgent === "string" ? userAgent.slice(0, 512) : "" };
}

function peerAddress(peer: string): string {
  // grpc-js peers look like "ipv4:127.0.0.1:5000", "ipv6:[::1]:5000" or "127.0.0.1:5000".
  const match = /^(?:ipv[46]:)?\[?([^\]]+?)\]?:\d+$/.exec(peer);
  return match ? match[1]! : "";
}
