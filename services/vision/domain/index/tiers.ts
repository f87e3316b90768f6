import { randomUUID } from "node:crypto";
import { readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import { faiss } from "./faiss.js";

// usearch's ESM build finds its native addon through stack traces, which fails in worker
// threads; its CommonJS build uses __dirname.
const { Index: UsearchIndex, MetricKind, ScalarKind } = createRequire(import.meta.url)("usearch") as typeof import("usearch");
type UsearchIndex = InstanceType<typeof UsearchIndex>;

export type IndexKind = "FLAT" | "HNSW";

export interface Neighbour {
  label: number;
  /** Cosine similarity (inner product of normalised vectors). */
  similarity: number;
}

/** The vectors of one organisation, searchable by inner product, keyed by stable labels. */
export interface VectorTier {
  readonly kind: IndexKind;
  add(labels: readonly number[], vectors: readonly Float32Array[]): void;
  remove(labels: readonly number[]): void;
  search(vector: Float32Array, k: number): Neighbour[];
  count(): number;
  /** Approximate memory held by the vectors and the structure. */
  sizeBytes(): number;
  save(file: string): Promise<void>;
}

/**
 * Exact search: FAISS IndexFlatIP. faiss-node has no add_with_ids and its removeIds compacts
 * the index (later positions move down), so the position → label table is kept here and
 * compacted the same way.
 */
export class FlatTier implements VectorTier {
  readonly kind = "FLAT";
  private labels: number[];

  private constructor(private readonly dimension: number, private readonly index: InstanceType<typeof faiss.IndexFlatIP>, labels: number[]) {
    this.labels = labels;
  }

  static create(dimension: number): FlatTier {
    return new FlatTier(dimension, new faiss.IndexFlatIP(dimension), []);
  }

  static async load(file: string, dimension: number, labels: number[]): Promise<FlatTier> {
    const index = faiss.IndexFlatIP.fromBuffer(await readFile(file));
    if (index.getDimension() !== dimension || index.ntotal() !== labels.length) {
      throw new Error(`${file} holds ${index.ntotal()} vectors of dimension ${index.getDimension()}, expected ${labels.length} of ${dimension}`);
    }
    return new FlatTier(dimension, index, labels);
  }

  add(labels: readonly number[], vectors: readonly Float32Array[]): void {
    if (labels.length === 0) return;
    const flat: number[] = new Array(vectors.length * this.dimension);
    vectors.forEach((v, i) => {
      for (let d = 0; d < this.dimension; d++) flat[i * this.dimension + d] = v[d]!;
    });
    this.index.add(flat);
    this.labels.push(...labels);
  }

  remove(labels: readonly number[]): void {
    const gone = new Set(labels);
    const positions: number[] = [];
    this.labels.forEach((label, position) => gone.has(label) && positions.push(position));
    if (positions.length === 0) return;
    this.index.removeIds(positions);
    this.labels = this.labels.filter((label) => !gone.has(label));
  }

  search(vector: Float32Array, k: number): Neighbour[] {
    const n = Math.min(k, this.labels.length);
    if (n === 0) return [];
    const result = this.index.search(Array.from(vector), n);
    return result.labels.map((position: number, i: number) => ({ label: this.labels[position]!, similarity: result.distances[i]! }));
  }

  count(): number {
    return this.labels.length;
  }

  positionLabels(): readonly number[] {
    return this.labels;
  }

  sizeBytes(): number {
    return this.labels.length * (this.dimension * 4 + 8);
  }

  async save(file: string): Promise<void> {
    await writeFile(file, this.index.toBuffer());
  }
}

export interface HnswSettings {
  /** Graph degree (M). */
  connectivity: number;
  /** Breadth while building (efConstruction). */
  expansionAdd: number;
  /** Breadth while searching (efSearch): the recall/speed knob. */
  expansionSearch: number;
  /**
   * How the graph stores vectors (default f32). bf16/f16 halve the memory; similarities stay
   * within ~1e-3. (i8 is not offered: usearch's i8 inner product is not a cosine.)
   */
  quantization?: "f32" | "bf16" | "f16";
}

/**
 * Approximate search: an HNSW graph from usearch, keyed directly by the labels. faiss-node's
 * HNSW cannot set efSearch (recall is stuck at its default) and aborts the process on remove,
 * so this tier is usearch (see bench/RESULTS.md for the recall figures).
 */
export class HnswTier implements VectorTier {
  readonly kind = "HNSW";

  private constructor(private readonly dimension: number, private readonly settings: HnswSettings, private readonly index: UsearchIndex) {}

  static create(dimension: number, settings: HnswSettings): HnswTier {
    return new HnswTier(dimension, settings, newUsearch(dimension, settings));
  }

  static load(file: string, dimension: number, settings: HnswSettings, expected: number): HnswTier {
    const index = newUsearch(dimension, settings);
    index.load(file);
    if (Number(index.size()) !== expected) throw new Error(`${file} holds ${index.size()} vectors, expected ${expected}`);
    return new HnswTier(dimension, settings, index);
  }

  add(labels: readonly number[], vectors: readonly Float32Array[]): void {
    if (labels.length === 0) return;
    const flat = new Float32Array(vectors.length * this.dimension);
    vectors.forEach((v, i) => flat.set(v, i * this.dimension));
    this.index.add(BigUint64Array.from(labels, (l) => BigInt(l)), flat, 0);
  }

  remove(labels: readonly number[]): void {
    for (const label of labels) this.index.remove(BigInt(label));
  }

  search(vector: Float32Array, k: number): Neighbour[] {
    if (Number(this.index.size()) === 0) return [];
    const result = this.index.search(vector, k, 1);
    return Array.from(result.keys, (key, i) => ({ label: Number(key), similarity: 1 - result.distances[i]! }));
  }

  count(): number {
    return Number(this.index.size());
  }

  sizeBytes(): number {
    // Vectors plus roughly two levels of neighbour lists of 4-byte slots per node.
    const bytesPerValue = (this.settings.quantization ?? "f32") === "f32" ? 4 : 2;
    return this.count() * (this.dimension * bytesPerValue + this.settings.connectivity * 2 * 4 + 16);
  }

  async save(file: string): Promise<void> {
    this.index.save(file);
  }
}

/**
 * Graph shape for face embeddings (128-d): measured on 50k random unit vectors, M=16 needs
 * efSearch 128 for recall 0.99, M=32 reaches 0.998 at efSearch 64 (bench/RESULTS.md). bf16
 * vectors: on 20k, searches cost half the CPU of f32 and builds 0.54x, similarities within 1e-3,
 * recall@1 0.999 at ef 128 on 100k (the CPU has AVX-512 BF16; ROLLCALL_VISION_ANN_QUANTIZATION).
 */
export const HNSW_GRAPH = { connectivity: 32, expansionAdd: 200, quantization: "bf16" } as const;

/**
 * Builds an HNSW tier in a worker thread: inserting 100k+ vectors takes seconds to minutes of
 * native code that would otherwise stall every call of the process. The graph comes back
 * through a file, which loads in milliseconds.
 */
export async function buildHnswOffThread(dimension: number, settings: HnswSettings, labels: readonly number[], vectors: readonly Float32Array[]): Promise<HnswTier> {
  const file = path.join(tmpdir(), `rollcall-hnsw-${process.pid}-${randomUUID()}.usearch`);
  const flat = new Float32Array(vectors.length * dimension);
  vectors.forEach((v, i) => flat.set(v, i * dimension));
  const worker = new Worker(workerEntry("./hnsw-worker"), {
    workerData: { dimension, settings, labels: Float64Array.from(labels), vectors: flat, file },
    transferList: [flat.buffer],
  });
  try {
    await new Promise<void>((resolve, reject) => {
      worker.once("message", () => resolve());
      worker.once("error", reject);
      worker.once("exit", (code) => reject(new Error(`the HNSW build worker exited with code ${code}`)));
    });
    return HnswTier.load(file, dimension, settings, labels.length);
  } finally {
    await worker.terminate();
    await rm(file, { force: true });
  }
}

/**
 * A worker module beside this one. Compiled (dist/) it is plain .js; run from source under tsx
 * (tests, `npm start`) the worker must register tsx itself before importing the .ts file.
 */
function workerEntry(relative: string): URL {
  if (!import.meta.url.endsWith(".ts")) return new URL(`${relative}.js`, import.meta.url);
  const target = new URL(`${relative}.ts`, import.meta.url).href;
  // The ESM build of tsx's API (require.resolve finds the CommonJS one beside it).
  const tsx = pathToFileURL(createRequire(import.meta.url).resolve("tsx/esm/api").replace(/\.cjs$/, ".mjs")).href;
  const bootstrap = `const { register } = await import(${JSON.stringify(tsx)}); register(); await import(${JSON.stringify(target)});`;
  return new URL(`data:text/javascript,${encodeURIComponent(bootstrap)}`);
}

function newUsearch(dimension: number, s: HnswSettings): UsearchIndex {
  return new UsearchIndex({
    dimensions: dimension,
    metric: MetricKind.IP,
    quantization: { f32: ScalarKind.F32, bf16: ScalarKind.BF16, f16: ScalarKind.F16 }[s.quantization ?? "f32"],
    connectivity: s.connectivity,
    expansion_add: s.expansionAdd,
    expansion_search: s.expansionSearch,
    multi: false,
  });
}
