import { once } from "node:events";
import type { Readable } from "node:stream";
import {
  Metadata, status,
  type handleBidiStreamingCall, type handleClientStreamingCall, type handleServerStreamingCall,
  type handleUnaryCall, type ServerDuplexStream, type ServerWritableStream, type UntypedHandleCall,
} from "@grpc/grpc-js";
import type { DescMethod } from "@bufbuild/protobuf";
import { unimplemented } from "../errors.js";
import type { Logger } from "../logger.js";
import type { Metrics } from "../metrics.js";
import type { Authenticator } from "../auth/authenticator.js";
import type { CallContext } from "./context.js";
import { methodScope, openCallContext, REQUEST_ID_HEADER, type ServerSurfaceCall } from "./call-context.js";
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

type Outcome<T> = { ok: T; requestId: string } | { error: StatusObject };
type AnyImpl = (input: never, ctx: CallContext) => unknown;

/**
 * Wraps a plain handler function into a grpc-js handler: context, auth, metrics, error mapping.
 * `impl` undefined answers UNIMPLEMENTED.
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
  const run = async <T>(call: ServerSurfaceCall, body: (ctx: CallContext) => Promise<T>): Promise<Outcome<T>> => {
    pipe.metrics.grpcStarted.inc(labels);
    const started = performance.now();
    let requestId = "-";
    let outcome: Outcome<T>;
    try {
      if (!impl) throw unimplemented(scope.path.slice(1));
      const ctx = await openCallContext(call, scope, isPublic, pipe.authenticator);
      requestId = ctx.requestId;
      try {
        pipe.peers?.check(call, scope.path, isInternal, ctx.caller);
        outcome = { ok: await body(ctx), requestId };
      } finally {
        ctx.close();
      }
    } catch (err) {
      if (requestId === "-") requestId = String(call.metadata.get(REQUEST_ID_HEADER)[0] ?? "-");
      outcome = { error: toStatus(abortReason(err), requestId, pipe.logger) };
    }
    pipe.metrics.grpcHandled.inc(handled("error" in outcome ? outcome.error.code : status.OK));
    pipe.metrics.grpcHandlingSeconds.observe(labels, (performance.now() - started) / 1000);
    return outcome;
  };

  switch (method.methodKind) {
    case "unary": {
      const handler: handleUnaryCall<unknown, unknown> = (call, callback) => {
        void run(call, (ctx) => (impl as (r: unknown, c: CallContext) => Promise<unknown>)(call.request, ctx)).then((out) => {
          if ("error" in out) callback(out.error);
          else callback(null, out.ok, trailers(out.requestId));
        });
      };
      return handler;
    }
    case "server_streaming": {
      const handler: handleServerStreamingCall<unknown, unknown> = (call) => {
        void run(call, (ctx) => writeAll(call, (impl as (r: unknown, c: CallContext) => AsyncIterable<unknown>)(call.request, ctx), ctx))
          .then((out) => finishStream(call, out));
      };
      return handler;
    }
    case "client_streaming": {
      const handler: handleClientStreamingCall<unknown, unknown> = (call, callback) => {
        void run(call, (ctx) => (impl as (r: AsyncIterable<unknown>, c: CallContext) => Promise<unknown>)(requestsOf(call), ctx)).then((out) => {
          if ("error" in out) callback(out.error);
          else callback(null, out.ok, trailers(out.requestId));
        });
      };
      return handler;
    }
    case "bidi_streaming": {
      const handler: handleBidiStreamingCall<unknown, unknown> = (call) => {
        void run(call, (ctx) => writeAll(call, (impl as (r: AsyncIterable<unknown>, c: CallContext) => AsyncIterable<unknown>)(requestsOf(call), ctx), ctx))
          .then((out) => finishStream(call, out));
      };
      return handler;
    }
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

function finishStream(call: WritableCall, out: Outcome<unknown>): void {
  // call.destroy(err) would send no status; emitting 'error' sends the status to the client.
  if ("error" in out) call.emit("error", out.error);
  else call.end(trailers(out.requestId));
}

function trailers(requestId: string): Metadata {
  const md = new Metadata();
  md.set(REQUEST_ID_HEADER, requestId);
  return md;
}

function grpcType(method: DescMethod): string {
  return { unary: "unary", server_streaming: "server_stream", client_streaming: "client_stream", bidi_streaming: "bidi_stream" }[method.methodKind];
}
