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
export function openStream(url: string, description: string): VideoCapture {
  return open(() => new cv.VideoCapture(url, cv.CAP_FFMPEG), () =>
    new AppError(
      status.UNAVAILABLE,
      `cannot open the stream ${description}: FFmpeg could not connect to it or read video from it (FFmpeg's own line on ` +
        `stderr says why, e.g. "Connection refused", "401 Unauthorized" or "404 Not Found"); check that the camera is reachable ` +
        `from here and that the URL's path, user and password are right`,
    ));
}

/** A local camera, /dev/videoN, through V4L2 (Linux): a missing device is named as missing. */
export function openCamera(index: number): VideoCapture {
  const device = `/dev/video${index}`;
  if (!existsSync(device)) {
    throw new AppError(
      status.NOT_FOUND,
      `camera ${device} does not exist (video devices here: ${videoDevices().join(", ") || "none"}): plug the camera in, ` +
        `pass it into the container (docker run --device ${device}), or give --source another camera, stream or file`,
    );
  }
  return open(() => new cv.VideoCapture(index, cv.CAP_V4L2), () =>
    new AppError(status.UNAVAILABLE, `cannot open camera ${device} with V4L2: another program may be using it, or this user may not be allowed to (the video group)`));
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
