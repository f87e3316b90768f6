import type { RgbImage } from "./decode.js";
import type { Point } from "./detector.js";

export const ALIGNED_SIZE = 112;

/** Where the 5 landmarks of a face sit in the standard 112x112 ArcFace crop. */
export const ARCFACE_TEMPLATE: readonly Point[] = [
  { x: 38.2946, y: 51.6963 },
  { x: 73.5318, y: 51.5014 },
  { x: 56.0252, y: 71.7366 },
  { x: 41.5493, y: 92.3655 },
  { x: 70.7299, y: 92.2041 },
];

/** x' = a·x − b·y + tx, y' = b·x + a·y + ty: rotation, uniform scale and translation. */
export interface Similarity {
  a: number;
  b: number;
  tx: number;
  ty: number;
}

/** Least-squares similarity transform taking `from` onto `to` (Umeyama, no reflection). */
export function estimateSimilarity(from: readonly Point[], to: readonly Point[]): Similarity {
  const n = from.length;
  const mean = (ps: readonly Point[]) => ({ x: ps.reduce((s, p) => s + p.x, 0) / n, y: ps.reduce((s, p) => s + p.y, 0) / n });
  const mf = mean(from);
  const mt = mean(to);
  let dot = 0;
  let cross = 0;
  let norm = 0;
  for (let i = 0; i < n; i++) {
    const fx = from[i]!.x - mf.x;
    const fy = from[i]!.y - mf.y;
    const tx = to[i]!.x - mt.x;
    const ty = to[i]!.y - mt.y;
    dot += fx * tx + fy * ty;
    cross += fx * ty - fy * tx;
    norm += fx * fx + fy * fy;
  }
  if (norm === 0) throw new Error("landmarks are all at one point");
  const a = dot / norm;
  const b = cross / norm;
  return { a, b, tx: mt.x - (a * mf.x - b * mf.y), ty: mt.y - (b * mf.x + a * mf.y) };
}

/** How many crop pixels one image pixel becomes when the face is aligned (> 1: enlarged). */
export function alignmentScale(landmarks: readonly Point[]): number {
  const m = estimateSimilarity(landmarks, ARCFACE_TEMPLATE);
  return Math.hypot(m.a, m.b);
}

/**
 * The 112x112 RGB crop of one face: every output pixel is mapped back through the inverse
 * transform and sampled bilinearly (outside the image reads as black, as cv2.warpAffine does).
 */
export function alignFace(image: RgbImage, landmarks: readonly Point[]): Uint8Array {
  const m = estimateSimilarity(landmarks, ARCFACE_TEMPLATE);
  const det = m.a * m.a + m.b * m.b;
  // Inverse of [a −b; b a]: [a b; −b a] / det.
  const ia = m.a / det;
  const ib = m.b / det;
  const out = new Uint8Array(ALIGNED_SIZE * ALIGNED_SIZE * 3);
  const { width, height, data } = image;
  const stride = width * 3;
  let o = 0;
  for (let v = 0; v < ALIGNED_SIZE; v++) {
    const dv = v - m.ty;
    // Each row's share of the inverse mapping, computed once per row rather than per pixel.
    const rowX = ib * dv;
    const rowY = ia * dv;
    for (let u = 0; u < ALIGNED_SIZE; u++, o += 3) {
      const du = u - m.tx;
      const x = ia * du + rowX;
      const y = -ib * du + rowY;
      const x0 = Math.floor(x);
      const y0 = Math.floor(y);
      const fx = x - x0;
      const fy = y - y0;
      if (x0 >= 0 && y0 >= 0 && x0 + 1 < width && y0 + 1 < height) {
        // Inside the image (nearly every pixel): the four neighbours without bounds checks.
        const i00 = y0 * stride + x0 * 3;
        const i01 = i00 + stride;
        out[o] = lerp2(data[i00]!, data[i00 + 3]!, data[i01]!, data[i01 + 3]!, fx, fy);
        out[o + 1] = lerp2(data[i00 + 1]!, data[i00 + 4]!, data[i01 + 1]!, data[i01 + 4]!, fx, fy);
        out[o + 2] = lerp2(data[i00 + 2]!, data[i00 + 5]!, data[i01 + 2]!, data[i01 + 5]!, fx, fy);
        continue;
      }
      for (let c = 0; c < 3; c++) {
        out[o + c] = lerp2(
          pixel(data, width, height, x0, y0, c), pixel(data, width, height, x0 + 1, y0, c),
          pixel(data, width, height, x0, y0 + 1, c), pixel(data, width, height, x0 + 1, y0 + 1, c), fx, fy,
        );
      }
    }
  }
  return out;
}

/** Bilinear blend of a pixel's four neighbours (top-left, top-right, bottom-left, bottom-right). */
function lerp2(p00: number, p10: number, p01: number, p11: number, fx: number, fy: number): number {
  const top = p00 + (p10 - p00) * fx;
  const bottom = p01 + (p11 - p01) * fx;
  return Math.round(top + (bottom - top) * fy);
}

function pixel(data: Uint8Array, width: number, height: number, x: number, y: number, c: number): number {
  if (x < 0 || y < 0 || x >= width || y >= height) return 0;
  return data[(y * width + x) * 3 + c]!;
}
