import type { InferenceSession } from "onnxruntime-node";
import { ort } from "./onnx.js";
import { ALIGNED_SIZE } from "./align.js";
import { TensorPool } from "./tensor-pool.js";

export const EMBEDDING_DIM = 128;

/** MobileFaceNet: aligned 112x112 RGB crops → L2-normalised 128-d embeddings, one batch per call. */
export class FaceEmbedder {
  private readonly inputs = new TensorPool();

  constructor(private readonly session: InferenceSession) {}

  async embed(faces: readonly Uint8Array[]): Promise<Float32Array[]> {
    if (faces.length === 0) return [];
    const plane = ALIGNED_SIZE * ALIGNED_SIZE;
    const input = this.inputs.take(faces.length * 3 * plane);
    try {
      faces.forEach((rgb, n) => {
        const base = n * 3 * plane;
        for (let i = 0, s = 0; i < plane; i++, s += 3) {
          input[base + i] = (rgb[s]! - 127.5) * (1 / 128);
          input[base + plane + i] = (rgb[s + 1]! - 127.5) * (1 / 128);
          input[base + 2 * plane + i] = (rgb[s + 2]! - 127.5) * (1 / 128);
        }
      });
      const outputs = await this.session.run({ input: new ort.Tensor("float32", input, [faces.length, 3, ALIGNED_SIZE, ALIGNED_SIZE]) });
      const flat = outputs.embedding!.data as Float32Array;
      return faces.map((_, n) => normalise(flat.slice(n * EMBEDDING_DIM, (n + 1) * EMBEDDING_DIM)));
    } finally {
      this.inputs.give(input);
    }
  }
}

export function normalise(v: Float32Array): Float32Array {
  let sum = 0;
  for (const x of v) sum += x * x;
  const norm = Math.sqrt(sum) || 1;
  for (let i = 0; i < v.length; i++) v[i] = v[i]! / norm;
  return v;
}

/** Cosine similarity of two L2-normalised vectors. */
export function cosine(a: Float32Array, b: Float32Array): number {
  let dot = 0;
  for (let i = 0; i < a.length; i++) dot += a[i]! * b[i]!;
  return dot;
}
