import { mkdir } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { cv, release, type Mat } from "../../../agent/src/cv.js";

const REPO = path.resolve(fileURLToPath(new URL("../../..", import.meta.url)));
/** ../shared beside the checkout: labelled photos and models (never copied into the project). */
export const SHARED = path.resolve(REPO, "..", "shared");
export const FACES_DIR = path.join(SHARED, "faces");
export const MODELS_DIR = process.env.ROLLCALL_MODELS_DIR ? path.resolve(process.env.ROLLCALL_MODELS_DIR) : path.join(SHARED, "models");

export const WIDTH = 640;
export const HEIGHT = 480;

/** A photo fitted into a 640x480 frame (grey borders), shifted right by `dx` pixels: a person stepping through. */
export function cameraFrame(photo: string, dx = 0, scale = 1): Mat {
  const image = cv.imread(path.join(FACES_DIR, photo), cv.IMREAD_COLOR);
  if (image.empty) throw new Error(`cannot read ${photo}`);
  const fit = Math.min((WIDTH * 0.7 * scale) / image.cols, (HEIGHT * 0.9 * scale) / image.rows);
  const resized = image.resize(Math.round(image.rows * fit), Math.round(image.cols * fit), 0, 0, cv.INTER_AREA);
  const left = Math.max(0, Math.min(WIDTH - resized.cols, Math.round((WIDTH - resized.cols) / 2) + dx));
  const top = Math.round((HEIGHT - resized.rows) / 2);
  const frame = resized.copyMakeBorder(top, HEIGHT - resized.rows - top, left, WIDTH - resized.cols - left, cv.BORDER_CONSTANT, new cv.Vec3(90, 90, 90));
  release(image, resized);
  return frame;
}

/** A person walking past: `frames` frames of one photo, moving a few pixels each. */
export function walkBy(photo: string, frames: number): Mat[] {
  return Array.from({ length: frames }, (_, i) => cameraFrame(photo, -3 * frames + 6 * i));
}

/** Frames written as numbered JPEGs (name order = frame order). */
export async function writeFrames(dir: string, frames: Mat[], start = 0): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const names: string[] = [];
  for (const [i, frame] of frames.entries()) {
    const name = `frame-${String(start + i).padStart(5, "0")}.jpg`;
    await cv.imwriteAsync(path.join(dir, name), frame);
    names.push(name);
  }
  return names;
}

/** An MJPG .avi made with OpenCV's VideoWriter. */
export function writeVideo(file: string, frames: Mat[], fps: number): void {
  const writer = new cv.VideoWriter(file, cv.VideoWriter.fourcc("MJPG"), fps, new cv.Size(WIDTH, HEIGHT), true);
  for (const frame of frames) writer.write(frame);
  writer.release();
}
