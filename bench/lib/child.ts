import { fork, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";

/**
 * Runs a module in a separate Node process (the load generator, or the server under test) so
 * that the client's CPU never competes with what is measured inside one event loop.
 * The child sends `{ ready: ... }` once, then `{ result: ... }` when done.
 */
export interface ChildHandle<R> {
  ready: Promise<unknown>;
  result: Promise<R>;
  send(message: unknown): void;
  stop(): Promise<void>;
  process: ChildProcess;
}

export function startChild<R>(modulePath: string | URL, args: string[] = [], env: NodeJS.ProcessEnv = {}): ChildHandle<R> {
  const file = modulePath instanceof URL ? fileURLToPath(modulePath) : modulePath;
  const child = fork(file, args, {
    execArgv: ["--import", "tsx"],
    env: { ...process.env, LOG_LEVEL: "silent", ...env },
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  let onReady!: (v: unknown) => void;
  let onResult!: (v: R) => void;
  let onError!: (e: Error) => void;
  const ready = new Promise((resolve) => (onReady = resolve));
  const result = new Promise<R>((resolve, reject) => {
    onResult = resolve;
    onError = reject;
  });
  child.on("message", (message: { ready?: unknown; result?: R; error?: string }) => {
    if ("ready" in message) onReady(message.ready);
    if ("result" in message) onResult(message.result as R);
    if ("error" in message) onError(new Error(message.error));
  });
  child.on("exit", (code) => onError(new Error(`${file} exited with code ${code} before reporting`)));
  void result.catch(() => undefined);
  return {
    ready,
    result,
    process: child,
    send: (message) => child.send(message as object),
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once("exit", () => resolve());
        child.kill("SIGTERM");
      }),
  };
}

/** Inside a child: report readiness / the result to the parent. */
export const report = {
  ready: (value: unknown = true) => process.send?.({ ready: value }),
  result: (value: unknown) => process.send?.({ result: value }),
  error: (err: unknown) => process.send?.({ error: err instanceof Error ? err.message : String(err) }),
};

/**
 * Inside a server child: answers the parent's `{ phase: "start" }` / `{ phase: "end" }` with the
 * CPU time (µs) it used in between, so CPU per call can be computed.
 */
export function serveCpuPhases(): void {
  let mark = process.cpuUsage();
  process.on("message", (message: { phase?: "start" | "end" }) => {
    if (message.phase === "start") mark = process.cpuUsage();
    if (message.phase === "end") {
      const used = process.cpuUsage(mark);
      process.send?.({ cpuMicros: used.user + used.system });
    }
  });
}

/**
 * In the parent: starts a load-generator child, lets it warm up (`warmupMs`, as the child does),
 * and measures the server child's CPU time while the child measures; returns both.
 */
export async function loadWithServerCpu<R extends { calls: number }>(
  server: ChildHandle<unknown>,
  load: ChildHandle<R>,
  warmupMs = 1500,
): Promise<R & { serverCpuMicrosPerCall: number }> {
  await load.ready;
  await new Promise((resolve) => setTimeout(resolve, warmupMs));
  server.send({ phase: "start" });
  const result = await load.result;
  server.send({ phase: "end" });
  const [{ cpuMicros }] = (await once(server.process, "message")) as [{ cpuMicros: number }];
  await load.stop();
  return { ...result, serverCpuMicrosPerCall: cpuMicros / result.calls };
}
