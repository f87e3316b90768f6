import { once } from "node:events";
import type { Readable } from "node:stream";
import { Metadata, status, type ServerDuplexStream, type ServerWritableStream, type UntypedHandleCall } from "@grpc/grpc-js";
import type { DescMethod } from "@bufbuild/protobuf";
import { unimplemented } from "../errors.js";
import type { Logger } from "../logger.js";
import type { Metrics } from "../metrics.js";
import type { Authenticator } from "../auth/authenticator.js";
import type { CallContext } from "./context.js";
import { deadlineOf, methodScope, requestIdOf, REQUEST_ID_HEADER, ServerCallContext, type ServerSurfaceCall } from "./call-context.js";
import { toStatus, type StatusObject } from "./status.js";
import type { PeerPolicy } from "./peer-identity.js";

/** What every call goes through, whatever its kind. */
export interface CallPipeline {
  authenticator: Authenticator;
  metrics: Metrics;
  logger: Logger;
  /** Aborted when the server starts shutting down: long-lived streams end, unary calls drain. */
  shutdownSignal: AbortSignal;
  trustedProxies: ReadonlySet<string>;
  /** Checks the caller's service identity (mTLS) on internal-only methods and service tokens. */
  peers?: PeerPolicy;
}

type AnyImpl = (input: never, ctx: CallContext) => unknown;
/** The handler's part of a call, once its context is open. */
type Invoke = (call: AnyCall, ctx: CallContext) => Promise<unknown>;
/** Sends the outcome: `callback` is the unary and client-streaming calls' answer. */
type Finish = (call: AnyCall, callback: AnyCallback | undefined, error: StatusObject | undefined, value: unknown, requestId: string) => void;
type AnyCall = ServerSurfaceCall & Readable & { request: unknown };
type AnyCallback = (error: StatusObject | null, value?: unknown, trailer?: Metadata) => void;

/**
 * Wraps a plain handler function into a grpc-js handler: context, auth, metrics, error mapping.
 * `impl` undefined answers UNIMPLEMENTED. What differs by kind of method (how the handler is
 * invoked, how its outcome is sent) is chosen here once, so a call allocates no closures of its own.
 */
export function grpcHandler(method: DescMethod, impl: AnyImpl | undefined, isPublic: boolean, pipe: CallPipeline, isInternal = false): UntypedHandleCall {
  const labels = { grpc_service: method.parent.typeName, grpc_method: method.name, grpc_type: grpcType(method) };
  const scope = methodScope(method, pipe.logger, pipe.shutdownSignal, pipe.trustedProxies);
  // Label objects made once per method and status code, not per call.
  const handledLabels = new Map<number, typeof labels & { grpc_code: string }>();
  const handled = (code: number) => {
    let l = handledLabels.get(code);
    if (!l) handledLabels.set(code, (l = { ...labels, grpc_code: status[code] ?? String(code) }));
    return l;
  };
  const [invoke, finish] = kindOf(method, impl);
  const run = async (call: AnyCall, callback: AnyCallback | undefined): Promise<void> => {
    pipe.metrics.grpcStarted.inc(labels);
    const started = performance.now();
    let requestId = "-";
    let value: unknown;
    let error: StatusObject | undefined;
    try {
      if (!impl) throw unimplemented(scope.path.slice(1));
      const id = requestIdOf(call.metadata);
      const deadline = deadlineOf(call);
      const caller = await pipe.authenticator.authenticate(call.metadata, isPublic);
      const ctx = new ServerCallContext(call, scope, id, caller, deadline);
      requestId = id;
      try {
        pipe.peers?.check(call, scope.path, isInternal, caller);
        value = await invoke(call, ctx);
      } finally {
        ctx.close();
      }
    } catch (err) {
      if (requestId === "-") requestId = String(call.metadata.get(REQUEST_ID_HEADER)[0] ?? "-");
      error = toStatus(abortReason(err), requestId, pipe.logger);
    }
    pipe.metrics.grpcHandled.inc(handled(error ? error.code : status.OK));
    pipe.metrics.grpcHandlingSeconds.observe(labels, (performance.now() - started) / 1000);
    finish(call, callback, error, value, requestId);
  };
  return ((call: AnyCall, callback?: AnyCallback) => void run(call, callback)) as unknown as UntypedHandleCall;
}

const answer: Finish = (_call, callback, error, value, requestId) => {
  if (error) callback!(error);
  else callback!(null, value, trailers(requestId));
};

const endStream: Finish = (call, _callback, error, _value, requestId) => {
  // call.destroy(err) would send no status; emitting 'error' sends the status to the client.
  if (error) call.emit("error", error);
  else (call as unknown as WritableCall).end(trailers(requestId));
};

function kindOf(method: DescMethod, impl: AnyImpl | undefined): [Invoke, Finish] {
  const fn = impl as (input: unknown, ctx: CallContext) => never;
  switch (method.methodKind) {
    case "unary":
      return [(call, ctx) => fn(call.request, ctx), answer];
    case "server_streaming":
      return [(call, ctx) => writeAll(call as unknown as WritableCall, fn(call.request, ctx) as AsyncIterable<unknown>, ctx), endStream];
    case "client_streaming":
      return [(call, ctx) => fn(requestsOf(call), ctx), answer];
    case "bidi_streaming":
      return [(call, ctx) => writeAll(call as unknown as WritableCall, fn(requestsOf(call), ctx) as AsyncIterable<unknown>, ctx), endStream];
  }
}

/** A handler that failed because its signal was aborted reports the abort's reason. */
function abortReason(err: unknown): unknown {
  const reason = (err as { cause?: unknown })?.cause;
  return err instanceof Error && err.name === "AbortError" && reason ? reason : err;
}

/**
 * The request stream as an async iterable that does not destroy the call when it ends: a plain
 * `for await` over the call would, and the response could then never be sent.
 */
function requestsOf(call: Readable): AsyncIterable<unknown> {
  return call.iterator({ destroyOnReturn: false });
}

type WritableCall = ServerWritableStream<unknown, unknown> | ServerDuplexStream<unknown, unknown>;

async function writeAll(call: WritableCall, messages: AsyncIterable<unknown>, ctx: CallContext): Promise<void> {
  for await (const message of messages) {
    ctx.signal.throwIfAborted();
    // Respect HTTP/2 flow control: a slow reader must not make our memory grow.
    if (!call.write(message)) await once(call, "drain", { signal: ctx.signal });
  }
  ctx.signal.throwIfAborted();
}

function trailers(requestId: string): Metadata {
  const md = new Metadata();
  md.set(REQUEST_ID_HEADER, requestId);
  return md;
}

function grpcType(method: DescMethod): string {
  return { unary: "unary", server_streaming: "server_stream", client_streaming: "client_stream", bidi_streaming: "bidi_stream" }[method.methodKind];
}
