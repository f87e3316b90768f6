import { status } from "@grpc/grpc-js";

/**
 * The one error type handlers throw. It carries a gRPC status code and a message meant for a
 * person: say what was wrong and what to do about it. Anything else thrown inside a handler is
 * treated as a bug: logged with the request id and answered as INTERNAL without details.
 */
export class AppError extends Error {
  readonly code: status;
  /** Extra facts a client may act on (e.g. the field at fault, retry time); never secrets. */
  readonly details: Record<string, string>;

  constructor(code: status, message: string, details: Record<string, string> = {}) {
    super(message);
    this.name = "AppError";
    this.code = code;
    this.details = details;
  }
}

export const invalidArgument = (field: string, problem: string) =>
  new AppError(status.INVALID_ARGUMENT, `${field}: ${problem}`, { field });
export const notFound = (what: string, id: string) =>
  new AppError(status.NOT_FOUND, `${what} ${id} was not found`);
export const alreadyExists = (what: string) =>
  new AppError(status.ALREADY_EXISTS, `${what} already exists`);
export const failedPrecondition = (message: string) =>
  new AppError(status.FAILED_PRECONDITION, message);
export const permissionDenied = (message: string) =>
  new AppError(status.PERMISSION_DENIED, message);
export const unauthenticated = (message: string) =>
  new AppError(status.UNAUTHENTICATED, message);
export const resourceExhausted = (message: string, retryAfterMs?: number) =>
  new AppError(
    status.RESOURCE_EXHAUSTED,
    message,
    retryAfterMs === undefined ? {} : { retryAfterMs: String(Math.ceil(retryAfterMs)) },
  );
export const unimplemented = (method: string) =>
  new AppError(status.UNIMPLEMENTED, `${method} is not implemented yet (see the status table in README.md)`);
export const unavailable = (message: string) => new AppError(status.UNAVAILABLE, message);
