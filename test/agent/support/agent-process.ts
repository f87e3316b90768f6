import { spawn } from "node:child_process";
import path from "node:path";

export interface AgentProcess {
  /** Everything it printed so far: its JSON logs and native OpenCV/FFmpeg stderr. */
  output(): string;
  exitCode(): number | null;
  /** Its exit code once it has exited by itself (or been stopped). */
  readonly exited: Promise<number | null>;
  /** SIGTERM, then the exit code; SIGKILL if it has not exited within a minute. */
  terminate(): Promise<number | null>;
  /** SIGKILL unless it has exited already. */
  kill(): Promise<void>;
}

/** The agent as an operator runs it (agent/bin/rollcall-agent.ts), with `args` and extra `env`. */
export function startAgentProcess(args: string[], env: Record<string, string>): AgentProcess {
  const child = spawn(process.execPath, ["--import", "tsx", "agent/bin/rollcall-agent.ts", ...args], {
    cwd: path.resolve(import.meta.dirname, "../../.."),
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout!.on("data", (chunk) => (output += chunk));
  child.stderr!.on("data", (chunk) => (output += chunk));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return {
    output: () => output,
    exitCode: () => child.exitCode,
    exited,
    async terminate() {
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
      try {
        return await exited;
      } finally {
        clearTimeout(timer);
      }
    },
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      await exited;
    },
  };
}
