import { randomUUID } from "node:crypto";
import { status, type Metadata, type ServerUnaryCall } from "@grpc/grpc-js";
import type { DescMethod } from "@bufbuild/protobuf";
/** What every kind of grpc-js server call has in common. */
export type ServerSurfaceCall = Pick<ServerUnaryCall<unknown, unknown>, "metadata" | "getPeer" | "getDeadline" | "cancelled"> & {
  once(event: "cancelled", listener: () => void): unknown;
  removeListener(event: "cancelled", listener: () => void): unknown;
};
import { AppError } from "../errors.js";
import type { Logger } from "../logger.js";
import type { Authenticator } from "../auth/authenticator.js";
import type { Caller } from "../auth/caller.js";
import type { CallContext } from "./context.js";
import { methodPath } from "./codec.js";

export const REQUEST_ID_HEADER = "x-request-id";
const MAX_TIMER_MS = 2 ** 31 - 1;

/** What a method's calls share: fixed when the method is registered. */
export interface MethodScope {
  method: DescMethod;
  path: string;
  logger: Logger;
  shutdownSignal: AbortSignal;
  trustedProxies: ReadonlySet<string>;
}

export function methodScope(method: DescMethod, logger: Logger, shutdownSignal: AbortSignal, trustedProxies: ReadonlySet<string>): MethodScope {
  return { method, path: methodPath(method), logger, shutdownSignal, trustedProxies };
}

/**
 * The request id a call will answer with: the caller's `x-request-id` when it is well-formed,
 * else a new one. Read before authentication; the call's context takes it once the caller is known.
 */
export function requestIdOf(metadata: Metadata): string {
  return validRequestId(metadata.get(REQUEST_ID_HEADER)[0]) ?? randomUUID();
}

/** The call's deadline, if it has one; DEADLINE_EXCEEDED when it passed before the call started. */
export function deadlineOf(call: ServerSurfaceCall): Date | undefined {
  const deadline = toDate(call.getDeadline());
  if (deadline && deadline.getTime() <= Date.now()) throw new AppError(status.DEADLINE_EXCEEDED, "the call's deadline passed before it started");
  return deadline;
}

/**
 * The context of one call. Most unary handlers never look at their signal, logger or client
 * address, so those are made on first use: the profile of a fast call (authz Check) showed
 * them, made eagerly, as a large part of the server's work per call.
 */
export class ServerCallContext implements CallContext {
  readonly method: DescMethod;
  readonly path: string;
  readonly metadata: Metadata;
  private controller: AbortController | undefined;
  private streamSignal: AbortSignal | undefined;
  private timer: NodeJS.Timeout | undefined;
  private onCancel: (() => void) | undefined;
  private log: Logger | undefined;
  private clientInfo: { ip: string; userAgent: string } | undefined;
  private closed = false;

  constructor(
    private readonly call: ServerSurfaceCall,
    private readonly scope: MethodScope,
    readonly requestId: string,
    readonly caller: Caller | undefined,
    readonly deadline: Date | undefined,
  ) {
    this.method = scope.method;
    this.path = scope.path;
    this.metadata = call.metadata;
    // Streams, which may never end by themselves, are ended on shutdown: that needs the signal now.
    if (scope.method.methodKind !== "unary") void this.signal;
  }

  get peer(): string {
    return this.call.getPeer();
  }

  get client(): { ip: string; userAgent: string } {
    return (this.clientInfo ??= clientOf(this.metadata, this.call.getPeer(), this.scope.trustedProxies));
  }

  get logger(): Logger {
    return (this.log ??= this.scope.logger.child({ requestId: this.requestId, rpc: this.scope.method.name, caller: this.caller?.subject }));
  }

  /** Aborted when the client cancels or the deadline passes (and, for streams, at shutdown). */
  get signal(): AbortSignal {
    if (this.streamSignal) return this.streamSignal;
    if (!this.controller) {
      const controller = (this.controller = new AbortController());
      if (this.call.cancelled) controller.abort(cancelledByClient());
      else if (!this.closed) {
        this.onCancel = () => controller.abort(cancelledByClient());
        this.call.once("cancelled", this.onCancel);
        // A deadline past what a timer can hold (2^31-1 ms, about 24.8 days) would fire at once.
        if (this.deadline && this.deadline.getTime() - Date.now() <= MAX_TIMER_MS) {
          this.timer = setTimeout(
            () => controller.abort(new AppError(status.DEADLINE_EXCEEDED, "the call's deadline passed")),
            Math.max(0, this.deadline.getTime() - Date.now()),
          );
        }
      }
    }
    if (this.scope.method.methodKind === "unary") return this.controller.signal;
    return (this.streamSignal = AbortSignal.any([this.controller.signal, this.scope.shutdownSignal]));
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    if (this.onCancel) this.call.removeListener("cancelled", this.onCancel);
  }
}

function cancelledByClient(): AppError {
  return new AppError(status.CANCELLED, "the client cancelled the call");
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
