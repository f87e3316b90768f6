import sharp from "sharp";
import type { InferenceSession } from "onnxruntime-node";
import { ort } from "./onnx.js";
import type { RgbImage } from "./decode.js";

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
 * YuNet (libfacedetection, dynamic input) on onnxruntime. The image is scaled down to fit
 * `maxSide` and padded right and bottom to multiples of 32, as the network's strides need.
 */
export class FaceDetector {
  constructor(private readonly session: InferenceSession) {}

  async detect(image: RgbImage, options: DetectOptions): Promise<Detection[]> {
    const scale = Math.min(1, options.maxSide / Math.max(image.width, image.height));
    const input = await networkInput(image, scale);
    const outputs = await this.session.run({ input: input.tensor });
    const output = (name: string) => outputs[name]!.data as Float32Array;
    return decodeYunet(output, input.width, input.height, options.minScore).map((d) => rescale(d, 1 / scale));
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

/** BGR planes, 0..255, as YuNet was trained; padding stays 0. */
async function networkInput(image: RgbImage, scale: number): Promise<{ tensor: ort.Tensor; width: number; height: number }> {
  let pixels = image;
  if (scale < 1) {
    const width = Math.max(1, Math.round(image.width * scale));
    const height = Math.max(1, Math.round(image.height * scale));
    const data = await sharp(image.data, { raw: { width: image.width, height: image.height, channels: 3 } })
      .resize(width, height, { fit: "fill", kernel: "linear" })
      .raw()
      .toBuffer();
    pixels = { width, height, data };
  }
  const width = Math.ceil(pixels.width / 32) * 32;
  const height = Math.ceil(pixels.height / 32) * 32;
  const plane = width * height;
  const chw = new Float32Array(3 * plane);
  const src = pixels.data;
  const rowBytes = pixels.width * 3;
  for (let y = 0; y < pixels.height; y++) {
    const b = chw.subarray(y * width);
    const g = chw.subarray(plane + y * width);
    const r = chw.subarray(2 * plane + y * width);
    const row = src.subarray(y * rowBytes, (y + 1) * rowBytes);
    for (let x = 0, s = 0; x < pixels.width; x++, s += 3) {
      r[x] = row[s]!;
      g[x] = row[s + 1]!;
      b[x] = row[s + 2]!;
    }
  }
  return { tensor: new ort.Tensor("float32", chw, [1, 3, height, width]), width, height };
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

function rescale(d: Detection, f: number): Detection {
  if (f === 1) return d;
  const p = (q: Point): Point => ({ x: q.x * f, y: q.y * f });
  return {
    box: { x: d.box.x * f, y: d.box.y * f, width: d.box.width * f, height: d.box.height * f },
    score: d.score,
    landmarks: [p(d.landmarks[0]), p(d.landmarks[1]), p(d.landmarks[2]), p(d.landmarks[3]), p(d.landmarks[4])],
  };
}

function clamp01(v: number): number {
  return v < 0 ? 0 : v > 1 ? 1 : v;
}
