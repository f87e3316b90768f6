import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import path from "node:path";
import type { Mat } from "../../../agent/src/cv.js";
import { writeFrames } from "./frames.js";
import { waitFor } from "./nats-server.js";

/** Why RTSP tests cannot run here, or undefined when Debian's ffmpeg (the publisher) is installed. */
export function ffmpegMissing(): string | undefined {
  const probe = spawnSync("ffmpeg", ["-hide_banner", "-version"], { stdio: "ignore" });
  return probe.error || probe.status !== 0 ? "ffmpeg is not installed (apt-get install -y ffmpeg): it publishes the test's RTSP stream" : undefined;
}

/**
 * An H.264 clip of the frames, as IP cameras send: numbered JPEGs through ffmpeg's libx264, a
 * keyframe every half second so a reader joining the loop starts within it.
 */
export async function writeH264Clip(file: string, frames: Mat[], fps: number): Promise<void> {
  const dir = `${file}.frames`;
  await writeFrames(dir, frames);
  const args = ["-hide_banner", "-loglevel", "error", "-y", "-framerate", String(fps), "-i", path.join(dir, "frame-%05d.jpg"),
    "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", String(Math.max(1, Math.round(fps / 2))), "-pix_fmt", "yuv420p", file];
  const encoded = spawnSync("ffmpeg", args, { encoding: "utf8" });
  if (encoded.status !== 0) throw new Error(`ffmpeg could not encode ${file}: ${encoded.stderr || encoded.error?.message}`);
}

export interface RtspCamera {
  /** rtsp://[user:password@]127.0.0.1:port/cam, for readers. */
  url: string;
  /** The same URL with other credentials (a reader giving the wrong password). */
  urlWith(user: string, password: string): string;
  readPort: number;
  stop(): void;
}

/**
 * rtsp-server.ts plus Debian's ffmpeg publishing `clip` to it in a loop at its own frame rate
 * (-re, stream copy: no encoding while the test runs). Resolves once the stream is published.
 */
export async function startRtspCamera(clip: string, credentials?: { user: string; password: string }): Promise<RtspCamera> {
  const children: ChildProcess[] = [];
  const stop = () => children.forEach((child) => child.exitCode === null && child.kill("SIGTERM"));
  try {
    const server = spawn(process.execPath, ["--import", "tsx", path.join(import.meta.dirname, "rtsp-server.ts"), ...(credentials ? [`${credentials.user}:${credentials.password}`] : [])], { stdio: ["pipe", "pipe", "inherit"] });
    children.push(server);
    let ports = "";
    server.stdout!.on("data", (chunk) => (ports += chunk));
    await waitFor(() => ports.includes("\n") || server.exitCode !== null, "the RTSP server's ports", 20_000);
    if (!ports.includes("\n")) throw new Error(`rtsp-server.ts exited (${server.exitCode}) before listening (npm ci installs rtsp-streaming-server)`);
    const { publishPort, readPort } = JSON.parse(ports) as { publishPort: number; readPort: number };

    // RTP over UDP: the server takes no interleaved TCP from publishers or readers.
    const publisher = spawn("ffmpeg", ["-hide_banner", "-nostats", "-loglevel", "info", "-re", "-stream_loop", "-1", "-i", clip, "-c", "copy", "-f", "rtsp", `rtsp://127.0.0.1:${publishPort}/cam`], { stdio: ["ignore", "ignore", "pipe"] });
    children.push(publisher);
    let log = "";
    publisher.stderr!.on("data", (chunk) => (log += chunk));
    // ffmpeg prints its output's header once ANNOUNCE, SETUP and RECORD have been answered.
    await waitFor(() => /Output #0, rtsp/.test(log) || publisher.exitCode !== null, "ffmpeg publishing the stream", 20_000);
    if (publisher.exitCode !== null) throw new Error(`ffmpeg stopped publishing (exit ${publisher.exitCode}):\n${log}`);

    const urlWith = (user: string, password: string) => `rtsp://${encodeURIComponent(user)}:${encodeURIComponent(password)}@127.0.0.1:${readPort}/cam`;
    const url = credentials ? urlWith(credentials.user, credentials.password) : `rtsp://127.0.0.1:${readPort}/cam`;
    return { url, urlWith, readPort, stop };
  } catch (err) {
    stop();
    throw err;
  }
}
