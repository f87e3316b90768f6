import { status } from "@grpc/grpc-js";
import { AppError } from "../services/runtime/errors.js";

/**
 * What `rollcall` exits with. Documented in `rollcall --help` and README.md; scripts rely on it,
 * so codes are only ever added, never renumbered.
 */
export const EXIT = {
  OK: 0,
  /** Bad usage or input: unknown flag, missing argument, a value the server rejected. */
  USAGE: 1,
  NOT_FOUND: 2,
  /** Denied by authorisation (also `rollcall check` answering "denied"). */
  PERMISSION_DENIED: 3,
  /** The mesh could not be reached or did not answer in time. */
  UNAVAILABLE: 4,
  /** Not logged in, or the session expired and could not be refreshed. */
  UNAUTHENTICATED: 5,
  /** The change conflicts with the current state (already exists, wrong status). */
  CONFLICT: 6,
  /** Some items of a batch failed (import rows, enrolment photos) or a verification failed. */
  PARTIAL: 7,
  /** The server does not implement this call yet. */
  UNIMPLEMENTED: 8,
  /** Anything else: a bug on the server or in the CLI. */
  INTERNAL: 9,
} as const;

export const EXIT_CODES_HELP = `Exit codes:
  0  ok
  1  bad usage or input (the message names the field)
  2  not found
  3  permission denied (and "denied" from rollcall check)
  4  mesh unavailable (not running, unreachable, or timed out)
  5  not logged in, or the session expired (run rollcall login)
  6  conflict (already exists, or not allowed in the current state)
  7  some items of a batch failed, or a verification failed
  8  not implemented by the server yet
  9  internal error`;

/** The one mapping from gRPC status codes to exit codes. */
export function exitCodeOf(code: status): number {
  switch (code) {
    case status.OK: return EXIT.OK;
    case status.INVALID_ARGUMENT:
    case status.OUT_OF_RANGE: return EXIT.USAGE;
    case status.NOT_FOUND: return EXIT.NOT_FOUND;
    case status.PERMISSION_DENIED: return EXIT.PERMISSION_DENIED;
    case status.UNAVAILABLE:
    case status.DEADLINE_EXCEEDED:
    case status.CANCELLED: return EXIT.UNAVAILABLE;
    case status.UNAUTHENTICATED: return EXIT.UNAUTHENTICATED;
    case status.ALREADY_EXISTS:
    case status.FAILED_PRECONDITION:
    case status.ABORTED:
    case status.RESOURCE_EXHAUSTED: return EXIT.CONFLICT;
    case status.UNIMPLEMENTED: return EXIT.UNIMPLEMENTED;
    default: return EXIT.INTERNAL;
  }
}

/** What to do next, for an error with this code; shown under the server's message. */
export function hintFor(code: status, addr: string): string {
  switch (code) {
    case status.INVALID_ARGUMENT:
    case status.OUT_OF_RANGE: return "fix the value named above; --help lists the options";
    case status.NOT_FOUND: return "check the name or id; the list subcommand of the same group shows what exists";
    case status.PERMISSION_DENIED: return "ask an administrator for a role that grants it; `rollcall check <you> <resource> <action>` explains decisions";
    case status.UNAVAILABLE:
    case status.DEADLINE_EXCEEDED:
    case status.CANCELLED: return `is the mesh running at ${addr}? start it with \`rollcall serve\` (or \`npm start\`), or point --addr / ROLLCALL_ADDR at it`;
    case status.UNAUTHENTICATED: return "log in with `rollcall login` (or pass --token / ROLLCALL_TOKEN)";
    case status.ALREADY_EXISTS: return "it exists already; list it, or choose another name";
    case status.FAILED_PRECONDITION: return "the current state does not allow this; show the item to see its state";
    case status.RESOURCE_EXHAUSTED: return "wait a moment and retry";
    case status.ABORTED: return "retry the command";
    case status.UNIMPLEMENTED: return "this server does not implement the call yet (see the status table in README.md)";
    default: return "retry; if it persists, report it with the request id from the server log";
  }
}

/** A problem the CLI finds itself (a flag value, a local file): reported like a server's. */
export const usageError = (message: string) => new AppError(status.INVALID_ARGUMENT, message);
