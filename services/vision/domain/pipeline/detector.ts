import sharp from "sharp";
import type { InferenceSession } from "onnxruntime-node";
import { createSession, ort } from "./onnx.js";
import type { DecodedImage, RgbImage } from "./decode.js";
import { PIXELS_INPUT, withPixelsInput } from "./pixels-input.js";
import { TensorPool } from "./tensor-pool.js";

export interface Point {
  x: number;
  y: number;
}

/** A face found by the detector, in pixels of the decoded image. */
export interface Detection {
  box: { x: number; y: number; width: number; height: number };
  score: number;
  /** Left eye, right eye, nose tip, left mouth corner, right mouth corner ("left" = image left). */
  landmarks: [Point, Point, Point, Point, Point];
}

export interface DetectOptions {
  /** Faces scoring below this are dropped (0..1). */
  minScore: number;
  /** The image is scaled so that its longest side is at most this before detection. */
  maxSide: number;
}

const STRIDES = [8, 16, 32] as const;
const NMS_IOU = 0.3;

/**
 * YuNet (libfacedetection, dynamic input) on onnxruntime, run at the image's own size (no
 * letterbox to 640x640): the image is scaled down to fit `maxSide` and padded right and bottom
 * to multiples of 32, as the network's strides need. The model is given the decoded RGB bytes
 * and makes its float BGR planes itself (see pixels-input.ts).
 */
export class FaceDetector {
  private readonly padded = new TensorPool<Uint8Array>(Uint8Array);

  private constructor(private readonly session: InferenceSession) {}

  /** `model`: the verified YuNet file as published. */
  static async create(model: Uint8Array, threads: number): Promise<FaceDetector> {
    return new FaceDetector(await createSession(withPixelsInput(model), threads));
  }

  async detect(image: DecodedImage, options: DetectOptions): Promise<Detection[]> {
    const { pixels, scaleX, scaleY } = await detectionPixels(image, options.maxSide);
    const width = Math.ceil(pixels.width / 32) * 32;
    const height = Math.ceil(pixels.height / 32) * 32;
    const aligned = width === pixels.width && height === pixels.height;
    const input = aligned ? pixels.data : padPixels(pixels, width, height, this.padded.take(width * height * 3));
    try {
      const outputs = await this.session.run({ [PIXELS_INPUT]: new ort.Tensor("uint8", input, [1, height, width, 3]) });
      const output = (name: string) => outputs[name]!.data as Float32Array;
      return decodeYunet(output, width, height, options.minScore).map((d) => rescale(d, 1 / scaleX, 1 / scaleY));
    } finally {
      if (!aligned) this.padded.give(input);
    }
  }
}

/**
 * YuNet's raw outputs (`cls_8`, `obj_8`, `bbox_8`, `kps_8`, … per stride) for an input of
 * width x height → faces in input pixels, overlaps suppressed. Shared with the edge agent, which
 * runs the same network through OpenCV's dnn module or onnxruntime.
 */
export function decodeYunet(output: (name: string) => Float32Array, width: number, height: number, minScore: number): Detection[] {
  const candidates: Detection[] = [];
  for (const stride of STRIDES) {
    const data = (name: string) => output(`${name}_${stride}`);
    decodeStride(stride, width / stride, height / stride, data("cls"), data("obj"), data("bbox"), data("kps"), minScore, candidates);
  }
  return nonMaximumSuppression(candidates, NMS_IOU);
}

/**
 * The pixels to detect on, with their scale from the full image: the decoded reduction when it
 * has the asked size (the usual case), else the full image resized here.
 */
async function detectionPixels(image: DecodedImage, maxSide: number): Promise<{ pixels: RgbImage; scaleX: number; scaleY: number }> {
  const scale = Math.min(1, maxSide / Math.max(image.width, image.height));
  const wanted = Math.max(1, Math.round(Math.max(image.width, image.height) * scale));
  if (Math.abs(Math.max(image.reduced.width, image.reduced.height) - wanted) <= 1) {
    return { pixels: image.reduced, scaleX: image.scaleX, scaleY: image.scaleY };
  }
  const full = await image.full();
  if (scale === 1) return { pixels: full, scaleX: 1, scaleY: 1 };
  const width = Math.max(1, Math.round(full.width * scale));
  const height = Math.max(1, Math.round(full.height * scale));
  const data = await sharp(full.data, { raw: { width: full.width, height: full.height, channels: 3 } })
    .resize(width, height, { fit: "fill", kernel: "linear" })
    .raw()
    .toBuffer();
  return { pixels: { width, height, data }, scaleX: width / full.width, scaleY: height / full.height };
}

/** RGB pixels copied into a width x height x 3 buffer, zero right and bottom. */
export function padPixels(pixels: RgbImage, width: number, height: number, out: Uint8Array): Uint8Array {
  const row = pixels.width * 3;
  const paddedRow = width * 3;
  if (row === paddedRow) {
    out.set(pixels.data.subarray(0, row * pixels.height));
  } else {
    for (let y = 0; y < pixels.height; y++) {
      out.set(pixels.data.subarray(y * row, (y + 1) * row), y * paddedRow);
      out.fill(0, y * paddedRow + row, (y + 1) * paddedRow);
    }
  }
  out.fill(0, pixels.height * paddedRow);
  return out;
}

/** One stride's grid: score = sqrt(cls * obj); box centre and landmarks are offsets in cells. */
function decodeStride(
  stride: number,
  cols: number,
  rows: number,
  cls: Float32Array,
  obj: Float32Array,
  bbox: Float32Array,
  kps: Float32Array,
  minScore: number,
  out: Detection[],
): void {
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const i = r * cols + c;
      const score = Math.sqrt(clamp01(cls[i]!) * clamp01(obj[i]!));
      if (score < minScore) continue;
      const cx = (c + bbox[i * 4]!) * stride;
      const cy = (r + bbox[i * 4 + 1]!) * stride;
      const width = Math.exp(bbox[i * 4 + 2]!) * stride;
      const height = Math.exp(bbox[i * 4 + 3]!) * stride;
      const point = (n: number): Point => ({ x: (kps[i * 10 + 2 * n]! + c) * stride, y: (kps[i * 10 + 2 * n + 1]! + r) * stride });
      out.push({
        box: { x: cx - width / 2, y: cy - height / 2, width, height },
        score,
        landmarks: [point(0), point(1), point(2), point(3), point(4)],
      });
    }
  }
}

export function nonMaximumSuppression(detections: Detection[], maxIou: number): Detection[] {
  const sorted = [...detections].sort((a, b) => b.score - a.score);
  const kept: Detection[] = [];
  for (const candidate of sorted) {
    if (kept.every((k) => iou(k.box, candidate.box) <= maxIou)) kept.push(candidate);
  }
  return kept;
}

function iou(a: Detection["box"], b: Detection["box"]): number {
  const w = Math.min(a.x + a.width, b.x + b.width) - Math.max(a.x, b.x);
  const h = Math.min(a.y + a.height, b.y + b.height) - Math.max(a.y, b.y);
  if (w <= 0 || h <= 0) return 0;
  const inter = w * h;
  return inter / (a.width * a.height + b.width * b.height - inter);
}

function rescale(d: Detection, fx: number, fy: number): Detection {
  if (fx === 1 && fy === 1) return d;
  const p = (q: Point): Point => ({ x: q.x * fx, y: q.y * fy });
  return {
    box: { x: d.box.x * fx, y: d.box.y * fy, width: d.box.width * fx, height: d.box.height * fy },
    score: d.score,
    landmarks: [p(d.landmarks[0]), p(d.landmarks[1]), p(d.landmarks[2]), p(d.landmarks[3]), p(d.landmarks[4])],
  };
}

function clamp01(v: number): number {
  return v < 0 ? 0 : v > 1 ? 1 : v;
}
