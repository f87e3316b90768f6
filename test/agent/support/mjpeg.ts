import { spawn, type ChildProcess } from "node:child_process";
import path from "node:path";
import { waitFor } from "./nats-server.js";

export interface MjpegCamera {
  url: string;
  port: number;
  /** The server process now running. */
  readonly process: ChildProcess;
  /** Ends the server process: its connections close and new ones are refused. */
  stop(): Promise<void>;
  /** A new server on the same port and frames (after stop): the camera is back. */
  restart(): Promise<void>;
  /** Freezes the server (SIGSTOP): connections stay open, nothing more comes, as a hung camera. */
  freeze(): void;
  /** Lets a frozen server go on (SIGCONT). */
  thaw(): void;
}

/** Starts mjpeg-server.ts on a directory of JPEGs, played at `fps`, and waits for its port. */
export async function startMjpegServer(dir: string, fps: number): Promise<MjpegCamera> {
  let child = await serve(dir, fps, 0);
  const port = child.port;
  return {
    url: `http://127.0.0.1:${port}/video.mjpg`,
    port,
    get process() {
      return child.process;
    },
    async stop() {
      const { process: server } = child;
      if (server.exitCode !== null || server.signalCode !== null) return;
      const exited = new Promise((resolve) => server.once("exit", resolve));
      server.kill("SIGKILL"); // also ends a frozen one
      await exited;
    },
    async restart() {
      child = await serve(dir, fps, port);
    },
    freeze: () => void child.process.kill("SIGSTOP"),
    thaw: () => void child.process.kill("SIGCONT"),
  };
}

async function serve(dir: string, fps: number, port: number): Promise<{ process: ChildProcess; port: number }> {
  const child = spawn(process.execPath, ["--import", "tsx", path.join(import.meta.dirname, "mjpeg-server.ts"), dir, String(fps), String(port)], { stdio: ["ignore", "pipe", "inherit"] });
  let output = "";
  child.stdout!.on("data", (chunk) => (output += chunk));
  await waitFor(() => /\d+\n/.test(output) || child.exitCode !== null, "the MJPEG server's port", 20_000);
  if (child.exitCode !== null) throw new Error(`mjpeg-server.ts exited (${child.exitCode}) before listening on port ${port}`);
  return { process: child, port: Number(output.trim()) };
}
