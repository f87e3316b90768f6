import { createInterface } from "node:readline";
import { usageError } from "./exit-codes.js";

/** Reads all of stdin (for --password-stdin), without the trailing newline. */
export async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8").replace(/\r?\n$/, "");
}

/** Asks for a secret on the terminal without echoing it. */
export async function promptSecret(question: string): Promise<string> {
  if (!process.stdin.isTTY) {
    throw usageError("no terminal to ask for the password: pass it with --password-stdin or ROLLCALL_PASSWORD");
  }
  const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
  let muted = false;
  const output = rl as unknown as { _writeToOutput(text: string): void };
  const write = output._writeToOutput.bind(rl);
  output._writeToOutput = (text) => write(muted ? "" : text);
  try {
    return await new Promise<string>((resolve) => {
      rl.question(question, resolve);
      muted = true;
    });
  } finally {
    process.stderr.write("\n");
    rl.close();
  }
}

/** A secret from --password-stdin, then the named environment variable, then the terminal. */
export async function secretFrom(opts: { passwordStdin?: boolean }, envName: string, question: string): Promise<string> {
  if (opts.passwordStdin) return readStdin();
  const fromEnv = process.env[envName];
  if (fromEnv) return fromEnv;
  return promptSecret(question);
}
