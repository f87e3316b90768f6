import { status } from "@grpc/grpc-js";
import type { Command } from "commander";
import { AppError } from "../services/runtime/errors.js";
import { Connection, DEFAULT_ADDR, type GlobalOptions } from "./connection.js";
import { EXIT, exitCodeOf, hintFor } from "./exit-codes.js";
import { Output } from "./output.js";

/** What a command's handler works with. */
export interface Run {
  conn: Connection;
  out: Output;
}

/** A handler returns its exit code (undefined = 0). */
type Handler<O> = (run: Run, opts: O, ...positional: any[]) => Promise<number | void>;

/**
 * Adapts a handler to commander's action signature (positional..., options, command): opens the
 * connection with the global options, runs it, reports any error in one place and sets the
 * exit code.
 */
export function withMesh<O = Record<string, unknown>>(handler: Handler<O>) {
  return async (...args: unknown[]): Promise<void> => {
    const command = args[args.length - 1] as Command;
    const opts = command.opts() as O;
    const globals = command.optsWithGlobals<GlobalOptions>();
    const out = new Output(Boolean(globals.json));
    let conn: Connection | undefined;
    try {
      conn = await Connection.open(globals);
      process.exitCode = (await handler({ conn, out }, opts, ...args.slice(0, -2))) ?? EXIT.OK;
    } catch (err) {
      process.exitCode = reportError(err, out, conn?.addr ?? globals.addr ?? process.env.ROLLCALL_ADDR ?? DEFAULT_ADDR);
    } finally {
      conn?.close();
    }
  };
}

/** Prints an error (the server's message and what to do) and returns the exit code it means. */
export function reportError(err: unknown, out: Output, addr: string): number {
  if (!(err instanceof AppError)) {
    const message = err instanceof Error ? err.message : String(err);
    const code = fileErrorCode(err);
    if (out.json) out.errors.write(JSON.stringify({ error: { code: "LOCAL", message, exitCode: code } }) + "\n");
    else out.errors.write(`rollcall: ${message}\n`);
    return code;
  }
  const exitCode = exitCodeOf(err.code);
  const hint = hintFor(err.code, addr);
  // The transport's own words (an address, a TLS failure) help whoever runs the mesh.
  const cause = err.cause instanceof Error ? ` (${err.cause.message})` : "";
  const message = err.code === status.UNAVAILABLE || err.code === status.DEADLINE_EXCEEDED ? `cannot reach the mesh at ${addr}: ${err.message}${cause}` : err.message;
  if (out.json) {
    out.errors.write(JSON.stringify({ error: { code: status[err.code], message, hint, details: err.details, exitCode } }) + "\n");
  } else {
    out.errors.write(`rollcall: ${message}\n  ${hint}\n`);
  }
  return exitCode;
}

/** Local file problems (a missing photo or CSV) are input errors, not bugs. */
function fileErrorCode(err: unknown): number {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === "ENOENT") return EXIT.NOT_FOUND;
  if (code === "EACCES" || code === "EPERM") return EXIT.PERMISSION_DENIED;
  if (code === "EISDIR" || code === "ENOTDIR") return EXIT.USAGE;
  return EXIT.INTERNAL;
}
