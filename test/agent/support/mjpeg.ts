import { spawn, type ChildProcess } from "node:child_process";
import path from "node:path";
import { waitFor } from "./nats-server.js";

export interface MjpegCamera {
  url: string;
  process: ChildProcess;
  stop(): void;
}

/** Starts mjpeg-server.ts on a directory of JPEGs, played at `fps`, and waits for its port. */
export async function startMjpegServer(dir: string, fps: number): Promise<MjpegCamera> {
  const child = spawn(process.execPath, ["--import", "tsx", path.join(import.meta.dirname, "mjpeg-server.ts"), dir, String(fps)], { stdio: ["ignore", "pipe", "inherit"] });
  let output = "";
  child.stdout!.on("data", (chunk) => (output += chunk));
  await waitFor(() => /\d+\n/.test(output), "the MJPEG server's port", 20_000);
  return { url: `http://127.0.0.1:${Number(output.trim())}/video.mjpg`, process: child, stop: () => void child.kill("SIGTERM") };
}
