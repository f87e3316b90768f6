import { readdir } from "node:fs/promises";
import path from "node:path";
import { status } from "@grpc/grpc-js";
import { AppError } from "../../../services/runtime/errors.js";
import { DEFAULT_SOURCE_TIMEOUT_MS, type AgentConfig } from "../config.js";
import { cv, type Mat } from "../cv.js";
import { LiveCapture, type LiveSourceListener } from "./live-capture.js";
import { acceptsConnections } from "./tcp-probe.js";
import { openCamera, openStream, openVideoFile, type VideoCapture } from "./video-capture.js";

/** Frames from somewhere. */
export interface FrameSource {
  readonly description: string;
  /** True for cameras and streams: frames come at their own pace and are sampled down to fps; they never end, they drop and come back. */
  readonly live: boolean;
  /** The next frame; undefined at the end of a file or directory (without --loop), or once `signal` aborts a live source's wait to reconnect. */
  read(signal?: AbortSignal): Promise<Mat | undefined>;
  close(): void;
}

const IMAGE_EXTENSIONS = new Set([".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".pgm", ".ppm"]);

/** The configuration's source; a live one tells `listener` when it drops and when it is back. */
export async function openSource(
  config: Pick<AgentConfig, "source" | "fps" | "loop"> & Partial<Pick<AgentConfig, "sourceTimeoutMs">>,
  listener?: LiveSourceListener,
): Promise<FrameSource> {
  const { kind, location, cameraIndex } = config.source;
  const timeoutMs = config.sourceTimeoutMs ?? DEFAULT_SOURCE_TIMEOUT_MS;
  switch (kind) {
    case "dir":
      return ImageDirectory.open(location, config.loop);
    case "file":
      return new VideoFile(location, config.fps, config.loop);
    case "url": {
      const description = redactUrl(location);
      const open = () => openStream(location, description, timeoutMs);
      const reopen = async (signal: AbortSignal | undefined) => {
        await acceptsConnections(location, description, timeoutMs, signal);
        return open();
      };
      return new LiveCapture(open(), reopen, description, timeoutMs, listener);
    }
    case "camera": {
      const open = () => openCamera(cameraIndex!, timeoutMs);
      return new LiveCapture(open(), async () => open(), location, timeoutMs, listener);
    }
  }
}

/** Images in name order; files OpenCV cannot decode are skipped (their content, not extension, decides). */
class ImageDirectory implements FrameSource {
  readonly live = false;
  private index = 0;

  private constructor(private readonly dir: string, private readonly files: string[], private readonly loop: boolean) {}

  static async open(dir: string, loop: boolean): Promise<ImageDirectory> {
    const files = (await readdir(dir, { withFileTypes: true }))
      .filter((entry) => entry.isFile() && IMAGE_EXTENSIONS.has(path.extname(entry.name).toLowerCase()))
      .map((entry) => entry.name)
      .sort();
    if (files.length === 0) throw new AppError(status.INVALID_ARGUMENT, `${dir} has no image files (${[...IMAGE_EXTENSIONS].join(" ")})`);
    return new ImageDirectory(dir, files, loop);
  }

  get description(): string {
    return `${this.files.length} images in ${this.dir}`;
  }

  async read(): Promise<Mat | undefined> {
    for (let tried = 0; tried < this.files.length; tried++) {
      if (this.index >= this.files.length) {
        if (!this.loop) return undefined;
        this.index = 0;
      }
      const file = path.join(this.dir, this.files[this.index++]!);
      const image = await cv.imreadAsync(file, cv.IMREAD_COLOR).catch(() => undefined);
      if (image && !image.empty) return image;
    }
    throw new AppError(status.INVALID_ARGUMENT, `no image in ${this.dir} could be decoded`);
  }

  close(): void {}
}

/** A video file through VideoCapture, sampled to the target fps in media time. */
class VideoFile implements FrameSource {
  readonly live = false;
  private capture: VideoCapture;
  private readonly step: number;
  private position = 0;
  private nextWanted = 0;

  constructor(private readonly file: string, fps: number, private readonly loop: boolean) {
    this.capture = openVideoFile(file);
    const videoFps = this.capture.get(cv.CAP_PROP_FPS);
    this.step = videoFps > 0 && fps < videoFps ? videoFps / fps : 1;
  }

  get description(): string {
    return `video ${this.file}`;
  }

  async read(): Promise<Mat | undefined> {
    for (let rewinds = 0; rewinds < 2; ) {
      const frame = await this.capture.readAsync();
      if (frame.empty) {
        if (!this.loop || this.position === 0) return undefined;
        this.capture.release();
        this.capture = openVideoFile(this.file);
        this.position = 0;
        this.nextWanted = 0;
        rewinds++;
        continue;
      }
      const index = this.position++;
      if (index + 1e-9 < this.nextWanted) {
        frame.release();
        continue;
      }
      this.nextWanted += this.step;
      return frame;
    }
    return undefined;
  }

  close(): void {
    this.capture.release();
  }
}

/** Stream URLs may carry credentials; they never reach a log line. */
const SECRET_PARAM = /pass|pwd|token|secret|key|auth|sig|cred/i;

export function redactUrl(value: string): string {
  try {
    const url = new URL(value);
    if (url.username || url.password) {
      url.username = "***";
      url.password = "";
    }
    // Cameras also take credentials in the query (?token=, ?password=, ?sig=).
    for (const key of [...url.searchParams.keys()]) {
      if (SECRET_PARAM.test(key)) url.searchParams.set(key, "***");
    }
    return url.toString().replaceAll("%2A%2A%2A", "***");
  } catch {
    return value;
  }
}
