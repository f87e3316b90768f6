import { existsSync, readdirSync } from "node:fs";
import { status } from "@grpc/grpc-js";
import { AppError } from "../../../services/runtime/errors.js";
import { cv } from "../cv.js";

export type VideoCapture = InstanceType<typeof cv.VideoCapture>;

/*
 * Streams and cameras are opened with one named backend. OpenCV's default tries every backend in
 * turn once FFmpeg has failed, and the last (image sequences) prints the target to stderr with its
 * credentials; each failed try also adds seconds to the start. The binding throws a bare string on
 * failure, so the errors here say what to check instead.
 */

/** A video file: whichever backend reads it (FFmpeg for containers, OpenCV's own for MJPG .avi). */
export function openVideoFile(file: string): VideoCapture {
  return open(() => new cv.VideoCapture(file), () =>
    new AppError(status.INVALID_ARGUMENT, `cannot read ${file} as a video: OpenCV found no decoder for it (give a video file, e.g. .mp4 or .avi, or a directory of images)`));
}

/**
 * An rtsp:// or http(s):// stream through FFmpeg (RTSP: interleaved TCP first, then UDP, as OpenCV
 * asks FFmpeg by default). `description` is the URL without its password: it alone is ever shown.
 */
export function openStream(url: string, description: string, timeoutMs: number): VideoCapture {
  useStreamTimeout(timeoutMs);
  return open(() => new cv.VideoCapture(url, cv.CAP_FFMPEG), () =>
    new AppError(
      status.UNAVAILABLE,
      `cannot open the stream ${description}: FFmpeg could not connect to it or read video from it (FFmpeg's own line on ` +
        `stderr says why, e.g. "Connection refused", "401 Unauthorized" or "404 Not Found"); check that the camera is reachable ` +
        `from here and that the URL's path, user and password are right`,
    ));
}

/** A local camera, /dev/videoN, through V4L2 (Linux): a missing device is named as missing. */
export function openCamera(index: number, timeoutMs: number): VideoCapture {
  const device = `/dev/video${index}`;
  if (!existsSync(device)) {
    throw new AppError(
      status.NOT_FOUND,
      `camera ${device} does not exist (video devices here: ${videoDevices().join(", ") || "none"}): plug the camera in, ` +
        `pass it into the container (docker run --device ${device}), or give --source another camera, stream or file`,
    );
  }
  // V4L2 waits this many whole seconds for a frame (default 10); OpenCV reads it once, at the first read.
  process.env[V4L2_TIMEOUT] ??= String(Math.max(1, Math.ceil(timeoutMs / 1000)));
  return open(() => new cv.VideoCapture(index, cv.CAP_V4L2), () =>
    new AppError(status.UNAVAILABLE, `cannot open camera ${device} with V4L2: another program may be using it, or this user may not be allowed to (the video group)`));
}

/*
 * How long FFmpeg may wait on a stream's socket (connecting, and for data) before the open or the
 * read fails: its default is OpenCV's 30 s. OpenCV 4.6 takes CAP_PROP_OPEN_TIMEOUT_MSEC and
 * CAP_PROP_READ_TIMEOUT_MSEC only as open() parameters, which the binding cannot pass ("Support for
 * 'params' not implemented"), and ignores them in set(); it does read FFmpeg's options from
 * OPENCV_FFMPEG_CAPTURE_OPTIONS at every open, where `timeout` (microseconds) is the socket
 * timeout of RTSP and of the TCP under HTTP.
 */
const CAPTURE_OPTIONS = "OPENCV_FFMPEG_CAPTURE_OPTIONS";
const V4L2_TIMEOUT = "OPENCV_VIDEOIO_V4L_SELECT_TIMEOUT";
/** The operator's own options, as the agent started: kept, and their own `timeout` wins. */
const OPERATOR_CAPTURE_OPTIONS = process.env[CAPTURE_OPTIONS];

export function streamCaptureOptions(timeoutMs: number, operator = OPERATOR_CAPTURE_OPTIONS): string {
  // Unset, OpenCV asks FFmpeg for RTSP over TCP first; setting the variable drops that, so it is said again.
  const options = (operator ?? "rtsp_flags;prefer_tcp").split("|").filter((pair) => pair !== "");
  if (!options.some((pair) => pair.split(";")[0] === "timeout")) options.push(`timeout;${timeoutMs * 1000}`);
  return options.join("|");
}

function useStreamTimeout(timeoutMs: number): void {
  const options = streamCaptureOptions(timeoutMs);
  // Written only when it changes (once in the agent): native threads read the environment too.
  if (process.env[CAPTURE_OPTIONS] !== options) process.env[CAPTURE_OPTIONS] = options;
}

function open(create: () => VideoCapture, failure: () => AppError): VideoCapture {
  try {
    return create();
  } catch {
    // The binding's text is always "VideoCapture::New - failed to open capture": the message above replaces it.
    throw failure();
  }
}

function videoDevices(): string[] {
  try {
    return readdirSync("/dev").filter((name) => /^video\d+$/.test(name)).sort().map((name) => `/dev/${name}`);
  } catch {
    return [];
  }
}
