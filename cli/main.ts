import { buildProgram } from "./program.js";

/** `rollcall`: parses the command line, runs the command, exits with its code (see exit-codes.ts). */
async function main(): Promise<void> {
  await (await buildProgram()).parseAsync(process.argv);
}

main().then(
  () => process.exit(process.exitCode ?? 0),
  (err: unknown) => {
    process.stderr.write(`rollcall: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(9);
  },
);
