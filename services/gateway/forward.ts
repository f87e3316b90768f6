import { Code, ConnectError, createContextKey, type HandlerContext } from "@connectrpc/connect";
import type { DescMethod, DescService } from "@bufbuild/protobuf";
import type { Client } from "@grpc/grpc-js";
import { AppError } from "../runtime/errors.js";
import { createClient, type CallOptions } from "../runtime/grpc/client.js";
import { REQUEST_ID_HEADER } from "../runtime/grpc/call-context.js";

/** Headers passed through from the browser or curl to the service. */
const FORWARDED_HEADERS = ["authorization", REQUEST_ID_HEADER, "user-agent"];

/** The connecting client's address, set by the gateway for each request. */
export const CLIENT_ADDRESS = createContextKey("");

/**
 * A Connect implementation of `service` that forwards every call to the same method over
 * grpc-js: the gateway adds protocols (Connect JSON, gRPC-Web), never behaviour.
 */
export function forwardingImpl(service: DescService, channel: Client): Record<string, unknown> {
  const client = createClient(service, "", {}, channel) as unknown as Record<string, (...args: unknown[]) => unknown>;
  const impl: Record<string, unknown> = {};
  for (const method of service.methods) impl[method.localName] = forwardMethod(method, client[method.localName]!);
  return impl;
}

function forwardMethod(method: DescMethod, call: (...args: unknown[]) => unknown) {
  switch (method.methodKind) {
    case "unary":
      return async (request: unknown, ctx: HandlerContext) => {
        try {
          return await (call(request, callOptions(ctx)) as Promise<unknown>);
        } catch (err) {
          throw toConnectError(err);
        }
      };
    case "server_streaming":
      return async function* (request: unknown, ctx: HandlerContext) {
        try {
          yield* call(request, callOptions(ctx)) as AsyncIterable<unknown>;
        } catch (err) {
          throw toConnectError(err);
        }
      };
    case "client_streaming":
      return async (requests: AsyncIterable<unknown>, ctx: HandlerContext) => {
        try {
          return await (call(requests, callOptions(ctx)) as Promise<unknown>);
        } catch (err) {
          throw toConnectError(err);
        }
      };
    case "bidi_streaming":
      return async function* (requests: AsyncIterable<unknown>, ctx: HandlerContext) {
        try {
          yield* call(requests, callOptions(ctx)) as AsyncIterable<unknown>;
        } catch (err) {
          throw toConnectError(err);
        }
      };
  }
}

function callOptions(ctx: HandlerContext): CallOptions {
  const metadata: Record<string, string> = {};
  for (const name of FORWARDED_HEADERS) {
    const value = ctx.requestHeader.get(name);
    if (value) metadata[name] = value;
  }
  // Set from the socket, never copied from the request: a client cannot choose its own address.
  const address = ctx.values.get(CLIENT_ADDRESS);
  if (address) metadata["x-forwarded-for"] = address.replace(/^::ffff:/, "");
  return { metadata, timeoutMs: ctx.timeoutMs(), signal: ctx.signal };
}

/** gRPC and Connect share status code numbers, so the code carries over as is. */
function toConnectError(err: unknown): ConnectError {
  if (err instanceof AppError) {
    const error = new ConnectError(err.message, err.code as number as Code);
    for (const [key, value] of Object.entries(err.details)) error.metadata.set(`rollcall-error-${key}`, value);
    return error;
  }
  return new ConnectError("the gateway could not reach the service", Code.Unavailable);
}
