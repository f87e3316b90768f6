import { Metadata, status, type ServiceError } from "@grpc/grpc-js";
import { AppError } from "../errors.js";
import type { Logger } from "../logger.js";

export interface StatusObject {
  code: status;
  details: string;
  metadata: Metadata;
}

/** Error details travel as `rollcall-error-<name>` trailers so clients can act on them. */
const DETAIL_PREFIX = "rollcall-error-";

/**
 * The one error mapper: what a thrown error becomes on the wire. AppErrors keep their code and
 * message; database constraint errors get their natural codes; anything else is a bug, logged
 * with the request id and answered INTERNAL without internals.
 */
export function toStatus(err: unknown, requestId: string, logger: Logger): StatusObject {
  const metadata = new Metadata();
  metadata.set("x-request-id", requestId);
  if (err instanceof AppError) {
    if (err.cause instanceof Error) logger.warn({ requestId, code: status[err.code], cause: err.cause.message }, err.message);
    for (const [key, value] of Object.entries(err.details)) metadata.set(DETAIL_PREFIX + kebab(key), value);
    return { code: err.code, details: err.message, metadata };
  }
  const pgCode = postgresCode(err);
  if (pgCode === "23505") {
    return { code: status.ALREADY_EXISTS, details: `a record with the same ${constraintFields(err)} already exists`, metadata };
  }
  if (pgCode === "40001" || pgCode === "40P01") {
    return { code: status.ABORTED, details: "the change conflicted with a concurrent one; retry it", metadata };
  }
  if (isAbort(err)) {
    return { code: status.CANCELLED, details: "the call was cancelled or its deadline passed", metadata };
  }
  logger.error({ err, requestId }, "unexpected error while handling a call");
  return { code: status.INTERNAL, details: `internal error (request id ${requestId})`, metadata };
}

/**
 * Turns a status received from another service into an AppError, so it propagates unchanged.
 * A status the local gRPC library made up because the peer never answered (no connection, a
 * deadline, a broken stream) carries no request id, and its text names internal addresses:
 * it becomes a message naming the service instead, with the library's text kept as the cause
 * for logs and operators' tools.
 */
export function fromServiceError(err: ServiceError, path = ""): AppError {
  const details: Record<string, string> = {};
  for (const [key, value] of Object.entries(err.metadata?.getMap() ?? {})) {
    if (key.startsWith(DETAIL_PREFIX)) details[camel(key.slice(DETAIL_PREFIX.length))] = String(value);
  }
  const text = err.details || err.message;
  const answered = (err.metadata?.get("x-request-id").length ?? 0) > 0;
  const transportMessage = answered ? undefined : TRANSPORT_FAILURES[err.code];
  if (transportMessage) {
    const error = new AppError(err.code, transportMessage(serviceNameOf(path)), details);
    error.cause = new Error(text);
    return error;
  }
  return new AppError(err.code, text, details);
}

/** What a caller may be told when the call never got an answer from the service. */
const TRANSPORT_FAILURES: Partial<Record<status, (service: string) => string>> = {
  [status.UNAVAILABLE]: (service) => `the ${service} service is unavailable; retry shortly`,
  [status.DEADLINE_EXCEEDED]: (service) => `the ${service} service did not answer before the deadline; retry, or allow more time`,
  [status.CANCELLED]: (service) => `the call to the ${service} service was cancelled`,
  [status.INTERNAL]: (service) => `the connection to the ${service} service failed mid-call; retry`,
  [status.UNKNOWN]: (service) => `the connection to the ${service} service failed mid-call; retry`,
};

/** "/rollcall.authz.v1.AuthzService/Check" → "authz"; other services by their full name. */
function serviceNameOf(path: string): string {
  const service = path.split("/")[1] ?? "";
  const parts = service.split(".");
  if (parts[0] === "rollcall" && parts.length >= 3) return parts[1]!;
  return service || "remote";
}

export function readErrorDetails(metadata: Metadata): Record<string, string> {
  return fromServiceError({ code: status.UNKNOWN, details: "", metadata } as ServiceError).details;
}

function postgresCode(err: unknown): string | undefined {
  const e = err as { parent?: { code?: unknown }; original?: { code?: unknown }; code?: unknown } | null;
  const code = e?.parent?.code ?? e?.original?.code ?? e?.code;
  return typeof code === "string" && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}

function constraintFields(err: unknown): string {
  const fields = (err as { fields?: Record<string, unknown> }).fields;
  const names = fields ? Object.keys(fields) : [];
  return names.length > 0 ? names.join(", ") : "key";
}

function isAbort(err: unknown): boolean {
  return err instanceof Error && (err.name === "AbortError" || err.name === "TimeoutError");
}

const kebab = (s: string) => s.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
const camel = (s: string) => s.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
