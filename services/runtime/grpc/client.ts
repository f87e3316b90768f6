import { Client, Metadata, credentials as grpcCredentials, type CallOptions as GrpcCallOptions, type ChannelCredentials, type ChannelOptions, type ServiceError } from "@grpc/grpc-js";
import type { DescMessage, DescMethod, DescService, MessageInitShape, MessageShape } from "@bufbuild/protobuf";
import { deserializer, methodPath, serializer } from "./codec.js";
import { fromServiceError } from "./status.js";
import { REQUEST_ID_HEADER } from "./call-context.js";
import { meshChannelOptions } from "./service-config.js";
import type { CallContext } from "./context.js";

export interface CallOptions {
  timeoutMs?: number;
  /** Inside a handler: propagates its deadline, cancellation and request id. */
  parent?: CallContext;
  signal?: AbortSignal;
  /** Sent as `authorization: Bearer <token>`. */
  bearer?: string;
  metadata?: Record<string, string>;
}

type Init<M extends DescMessage> = MessageInitShape<M>;
type Shape<M extends DescMessage> = MessageShape<M>;
type MethodLike = Pick<DescMethod, "input" | "output" | "methodKind">;

export type ClientMethod<M extends MethodLike> =
  M extends { methodKind: "unary"; input: infer I extends DescMessage; output: infer O extends DescMessage } ? (request: Init<I>, options?: CallOptions) => Promise<Shape<O>>
  : M extends { methodKind: "server_streaming"; input: infer I extends DescMessage; output: infer O extends DescMessage } ? (request: Init<I>, options?: CallOptions) => AsyncIterable<Shape<O>>
  : M extends { methodKind: "client_streaming"; input: infer I extends DescMessage; output: infer O extends DescMessage } ? (requests: AsyncIterable<Init<I>>, options?: CallOptions) => Promise<Shape<O>>
  : M extends { methodKind: "bidi_streaming"; input: infer I extends DescMessage; output: infer O extends DescMessage } ? (requests: AsyncIterable<Init<I>>, options?: CallOptions) => AsyncIterable<Shape<O>>
  : never;

export type RpcClient<S extends Pick<DescService, "method">> = { [K in keyof S["method"]]: ClientMethod<S["method"][K]> };

export interface ClientOptions {
  credentials?: ChannelCredentials;
  channelOptions?: ChannelOptions;
  /** Applied when a call gives neither timeoutMs nor a parent with a deadline. */
  defaultTimeoutMs?: number;
  /** Default bearer token for every call (e.g. a service token), unless the call gives one. */
  bearer?: () => string | undefined | Promise<string | undefined>;
}

/**
 * A typed promise client for a Rollcall service over grpc-js. Errors arrive as AppError with
 * the server's code, message and details, so a handler that calls another service can let them
 * propagate unchanged. Several services on one target should share a channel: pass `channel`.
 */
export function createClient<S extends DescService>(service: S, target: string, options: ClientOptions = {}, channel?: Client): RpcClient<S> & { close(): void } {
  const client = channel ?? new Client(target, options.credentials ?? grpcCredentials.createInsecure(), { ...meshChannelOptions(), ...options.channelOptions });
  const methods: Record<string, unknown> = { close: () => client.close() };
  for (const method of service.methods) methods[method.localName] = clientMethod(client, method, options);
  return methods as RpcClient<S> & { close(): void };
}

function clientMethod(client: Client, method: DescMethod, options: ClientOptions) {
  const path = methodPath(method);
  const serialize = serializer(method.input);
  const deserialize = deserializer(method.output) as (b: Buffer) => unknown;
  switch (method.methodKind) {
    case "unary":
      return async (request: object, call: CallOptions = {}) => {
        const { metadata, grpcOptions, signal } = await prepare(call, options);
        return new Promise((resolve, reject) => {
          const pending = client.makeUnaryRequest(path, serialize, deserialize, request, metadata, grpcOptions, (err, value) =>
            err ? reject(fromServiceError(err, path)) : resolve(value));
          cancelOnAbort(signal, pending);
        });
      };
    case "client_streaming":
      return async (requests: AsyncIterable<object>, call: CallOptions = {}) => {
        const { metadata, grpcOptions, signal } = await prepare(call, options);
        return new Promise((resolve, reject) => {
          const stream = client.makeClientStreamRequest(path, serialize, deserialize, metadata, grpcOptions, (err, value) =>
            err ? reject(fromServiceError(err, path)) : resolve(value));
          cancelOnAbort(signal, stream);
          pump(requests, stream).catch(() => stream.cancel());
        });
      };
    case "server_streaming":
      return (request: object, call: CallOptions = {}) =>
        readStream(path, async () => {
          const { metadata, grpcOptions, signal } = await prepare(call, options);
          const stream = client.makeServerStreamRequest(path, serialize, deserialize, request, metadata, grpcOptions);
          cancelOnAbort(signal, stream);
          return stream;
        });
    case "bidi_streaming":
      return (requests: AsyncIterable<object>, call: CallOptions = {}) =>
        readStream(path, async () => {
          const { metadata, grpcOptions, signal } = await prepare(call, options);
          const stream = client.makeBidiStreamRequest(path, serialize, deserialize, metadata, grpcOptions);
          cancelOnAbort(signal, stream);
          pump(requests, stream).catch(() => stream.cancel());
          return stream;
        });
  }
}

async function prepare(call: CallOptions, options: ClientOptions) {
  const metadata = new Metadata();
  for (const [key, value] of Object.entries(call.metadata ?? {})) metadata.set(key, value);
  const bearer = call.bearer ?? (await options.bearer?.());
  if (bearer) metadata.set("authorization", `Bearer ${bearer}`);
  if (call.parent) metadata.set(REQUEST_ID_HEADER, call.parent.requestId);
  const deadlines = [
    call.timeoutMs !== undefined ? Date.now() + call.timeoutMs : undefined,
    call.parent?.deadline?.getTime(),
  ].filter((d): d is number => d !== undefined);
  const deadline = deadlines.length > 0 ? Math.min(...deadlines)
    : options.defaultTimeoutMs !== undefined ? Date.now() + options.defaultTimeoutMs : undefined;
  const grpcOptions: GrpcCallOptions = deadline === undefined ? {} : { deadline };
  // Cancelling the parent call cancels the calls it made.
  const signals = [call.signal, call.parent?.signal].filter((s): s is AbortSignal => s !== undefined);
  const signal = signals.length === 0 ? undefined : signals.length === 1 ? signals[0] : AbortSignal.any(signals);
  return { metadata, grpcOptions, signal };
}

function cancelOnAbort(signal: AbortSignal | undefined, call: { cancel(): void }): void {
  if (!signal) return;
  if (signal.aborted) call.cancel();
  else signal.addEventListener("abort", () => call.cancel(), { once: true });
}

async function pump(requests: AsyncIterable<object>, stream: { write(m: object): boolean; end(): void; once(e: "drain", l: () => void): unknown }) {
  for await (const request of requests) {
    if (!stream.write(request)) await new Promise<void>((resolve) => stream.once("drain", resolve));
  }
  stream.end();
}

async function* readStream(path: string, open: () => Promise<AsyncIterable<unknown> & { cancel(): void }>): AsyncIterable<unknown> {
  const stream = await open();
  try {
    for await (const message of stream) yield message;
  } catch (err) {
    throw isServiceError(err) ? fromServiceError(err, path) : err;
  } finally {
    // Harmless once the stream has ended; stops it when the consumer broke out early.
    stream.cancel();
  }
}

function isServiceError(err: unknown): err is ServiceError {
  return typeof err === "object" && err !== null && "code" in err && "details" in err && "metadata" in err;
}
