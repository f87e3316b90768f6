import type { Metadata } from "@grpc/grpc-js";
import type { DescMessage, DescMethod, DescService, MessageInitShape, MessageShape } from "@bufbuild/protobuf";
import type { Logger } from "../logger.js";
import type { Caller } from "../auth/caller.js";

/** What a handler knows about the call it serves. */
export interface CallContext {
  readonly method: DescMethod;
  /** `/package.Service/Method` */
  readonly path: string;
  /** From the caller's `x-request-id`, or generated; echoed back and in every log line. */
  readonly requestId: string;
  readonly metadata: Metadata;
  readonly peer: string;
  /**
   * The end client's address and user agent. Behind the gateway, the address it saw (its
   * x-forwarded-for, believed only from a trusted proxy, so a client cannot pick its own).
   */
  readonly client: { readonly ip: string; readonly userAgent: string };
  /** The authenticated caller; undefined only on public methods called without a token. */
  readonly caller: Caller | undefined;
  readonly deadline: Date | undefined;
  /** Aborted when the client cancels or the deadline passes; pass it to anything slow. */
  readonly signal: AbortSignal;
  readonly logger: Logger;
}

/** The caller's own token, to pass on when this service calls another on the caller's behalf. */
export function callerBearer(ctx: Pick<CallContext, "metadata">): string | undefined {
  const header = ctx.metadata.get("authorization")[0];
  return typeof header === "string" ? header.replace(/^Bearer\s+/i, "") : undefined;
}

type Init<M extends DescMessage> = MessageInitShape<M>;
type Shape<M extends DescMessage> = MessageShape<M>;

export type UnaryImpl<I extends DescMessage, O extends DescMessage> =
  (request: Shape<I>, ctx: CallContext) => Promise<Init<O>>;
export type ServerStreamingImpl<I extends DescMessage, O extends DescMessage> =
  (request: Shape<I>, ctx: CallContext) => AsyncIterable<Init<O>>;
export type ClientStreamingImpl<I extends DescMessage, O extends DescMessage> =
  (requests: AsyncIterable<Shape<I>>, ctx: CallContext) => Promise<Init<O>>;
export type BidiStreamingImpl<I extends DescMessage, O extends DescMessage> =
  (requests: AsyncIterable<Shape<I>>, ctx: CallContext) => AsyncIterable<Init<O>>;

type MethodLike = Pick<DescMethod, "input" | "output" | "methodKind">;

export type MethodImpl<M extends MethodLike> =
  M extends { methodKind: "unary"; input: infer I extends DescMessage; output: infer O extends DescMessage } ? UnaryImpl<I, O>
  : M extends { methodKind: "server_streaming"; input: infer I extends DescMessage; output: infer O extends DescMessage } ? ServerStreamingImpl<I, O>
  : M extends { methodKind: "client_streaming"; input: infer I extends DescMessage; output: infer O extends DescMessage } ? ClientStreamingImpl<I, O>
  : M extends { methodKind: "bidi_streaming"; input: infer I extends DescMessage; output: infer O extends DescMessage } ? BidiStreamingImpl<I, O>
  : never;

/**
 * Handlers for a service, keyed by the method's local name (as in connect-es). A method left
 * out answers UNIMPLEMENTED: honest, and listed in the README's status table.
 */
export type ServiceImpl<S extends Pick<DescService, "method">> = {
  [K in keyof S["method"]]?: MethodImpl<S["method"][K]>;
};
