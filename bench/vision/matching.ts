import { access, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { faiss } from "../../services/vision/domain/index/faiss.js";
import { FlatTier, HNSW_GRAPH, HnswTier, type HnswSettings, type VectorTier } from "../../services/vision/domain/index/tiers.js";
import { percentile } from "./engine.js";

export interface MatchingRow {
  [key: string]: string | number;
}

/** A deterministic generator, so runs are comparable. */
function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function gaussian(rand: () => number): number {
  return Math.sqrt(-2 * Math.log(rand() || 1e-12)) * Math.cos(2 * Math.PI * rand());
}

function unit(v: Float32Array): Float32Array {
  let n = 0;
  for (const x of v) n += x * x;
  n = Math.sqrt(n);
  for (let i = 0; i < v.length; i++) v[i] = v[i]! / n;
  return v;
}

/**
 * N enrolled faces and queries, as 128-d unit vectors. photosPerPerson 1: every face is a random
 * direction and a query is a noisy copy of one of them (cosine ≈ 0.7, like a new photo of that
 * person). photosPerPerson p > 1 models enrolment as Rollcall does it (3–5 photos a person): each
 * person is a random direction, each of their photos and each query a noisy copy of it, with
 * cosine ≈ 0.7 between any two photos of one person (as above). Random directions are the hard
 * case for a graph index (no structure between people); real embeddings have less.
 */
export function syntheticFaces(n: number, dim: number, queries: number, photosPerPerson = 1): { vectors: Float32Array[]; queries: Float32Array[]; personOf: (label: number) => number } {
  const rand = random(42);
  const randomUnit = () => unit(Float32Array.from({ length: dim }, () => gaussian(rand)));
  if (photosPerPerson <= 1) {
    const vectors = Array.from({ length: n }, randomUnit);
    const q = Array.from({ length: queries }, () => {
      const source = vectors[Math.floor(rand() * n)]!;
      return unit(Float32Array.from(source, (x) => x + gaussian(rand) * 0.09));
    });
    return { vectors, queries: q, personOf: (label) => label };
  }
  // Photo = unit(centre + σg): cos(photo, photo') = 1 / (1 + dim σ²) = 0.7.
  const sigma = Math.sqrt((1 / 0.7 - 1) / dim);
  const people = Array.from({ length: Math.ceil(n / photosPerPerson) }, randomUnit);
  const photoOf = (centre: Float32Array) => unit(Float32Array.from(centre, (x) => x + gaussian(rand) * sigma));
  const vectors = Array.from({ length: n }, (_, i) => photoOf(people[Math.floor(i / photosPerPerson)]!));
  const q = Array.from({ length: queries }, () => photoOf(people[Math.floor(rand() * people.length)]!));
  // Labels are positions + 1 (addInChunks).
  return { vectors, queries: q, personOf: (label) => Math.floor((label - 1) / photosPerPerson) };
}

function addInChunks(tier: VectorTier, vectors: Float32Array[]): void {
  const chunk = 20_000;
  for (let i = 0; i < vectors.length; i += chunk) {
    const part = vectors.slice(i, i + chunk);
    tier.add(part.map((_, j) => i + j + 1), part);
  }
}

/** Wall time per query (p50, p99), CPU time per query (robust to other work on the machine), top-1 labels. */
function timeQueries(tier: VectorTier, queries: Float32Array[]): { p50: number; p99: number; cpu: number; labels: number[] } {
  const ms: number[] = [];
  const labels: number[] = [];
  for (const q of queries.slice(0, 20)) tier.search(q, 1);
  // The benchmark holds far more than a service would (a million query and enrolment vectors, the
  // exact index, the graph reopened per ef): collect now, so a collection of all that does not
  // land inside the timed queries.
  collectGarbage();
  const cpu = process.cpuUsage();
  for (const q of queries) {
    const t = performance.now();
    const [hit] = tier.search(q, 1);
    ms.push(performance.now() - t);
    labels.push(hit?.label ?? -1);
  }
  const used = process.cpuUsage(cpu);
  return { p50: percentile(ms, 50), p99: percentile(ms, 99), cpu: (used.user + used.system) / 1000 / queries.length, labels };
}

/** A full collection when node runs with --expose-gc (npm run bench:vision does). */
function collectGarbage(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

const exists = (file: string) => access(file).then(() => true, () => false);
const rssMiB = () => process.memoryUsage().rss / 2 ** 20;

/** Exact (FAISS flat) against approximate (usearch HNSW) at one size; recall@1 is against exact. */
function measureFaissHnsw(vectors: Float32Array[], queries: Float32Array[], exact: number[], dim: number): MatchingRow {
  const rss = rssMiB();
  const t = performance.now();
  const index = faiss.Index.fromFactory(dim, "HNSW32", faiss.MetricType.METRIC_INNER_PRODUCT);
  for (let i = 0; i < vectors.length; i += 20_000) index.add(vectors.slice(i, i + 20_000).flatMap((v) => Array.from(v)));
  const build = (performance.now() - t) / 1000;
  const ms: number[] = [];
  // Without add_with_ids, FAISS labels are insertion positions: label = position + 1 here.
  const labels = queries.map((q) => {
    const started = performance.now();
    const label = index.search(Array.from(q), 1).labels[0]! + 1;
    ms.push(performance.now() - started);
    return label;
  });
  return {
    faces: vectors.length, index: "FAISS HNSW32 (faiss-node, efSearch 16)", "build s": build, "p50 ms": percentile(ms, 50), "p99 ms": percentile(ms, 99), "CPU ms": "—",
    "recall@1": labels.filter((l, i) => l === exact[i]).length / queries.length, "same person as exact": "—", "index MiB": "—", "RSS growth MiB": rssMiB() - rss,
  };
}

/** faissHnswMax: sizes up to which faiss-node's HNSW is measured too (it only shows why usearch serves). */
export async function measureMatching(
  n: number,
  dim: number,
  queryCount: number,
  efs: number[],
  graph: Omit<HnswSettings, "expansionSearch"> = HNSW_GRAPH,
  faissHnswMax = 100_000,
  photosPerPerson = 1,
  keepGraphDir?: string,
): Promise<MatchingRow[]> {
  const { vectors, queries, personOf } = syntheticFaces(n, dim, queryCount, photosPerPerson);
  const rows: MatchingRow[] = [];
  let rss = rssMiB();
  let t = performance.now();
  let flat: FlatTier | undefined = FlatTier.create(dim);
  addInChunks(flat, vectors);
  const flatBuild = (performance.now() - t) / 1000;
  const exact = timeQueries(flat, queries);
  rows.push({ faces: n, index: "FAISS flat (exact)", "build s": flatBuild, "p50 ms": exact.p50, "p99 ms": exact.p99, "CPU ms": exact.cpu, "recall@1": 1, "same person as exact": 1, "index MiB": flat.sizeBytes() / 2 ** 20, "RSS growth MiB": rssMiB() - rss });
  // Released before the graph is timed: a service serving the approximate tier holds no exact index beside it.
  flat = undefined;
  // faiss-node's own HNSW, for comparison: it cannot set efSearch (FAISS's default, 16, applies).
  if (n <= faissHnswMax) rows.push(measureFaissHnsw(vectors, queries, exact.labels, dim));


  // efSearch is fixed when a usearch index is opened: build once, then reopen the saved graph per ef.
  // With keepGraphDir, the graph is kept there and later runs of the same data and shape reuse it.
  const shape = `${n}-${photosPerPerson}-${graph.connectivity}-${graph.expansionAdd}-${graph.quantization ?? "f32"}`;
  const file = keepGraphDir ? path.join(keepGraphDir, `rollcall-bench-hnsw-${shape}.usearch`) : path.join(tmpdir(), `rollcall-bench-hnsw-${process.pid}.usearch`);
  rss = rssMiB();
  t = performance.now();
  let buildLabel = "reused";
  let builtRss: number | string = "—";
  if (!keepGraphDir || !(await exists(file))) {
    const built = HnswTier.create(dim, { ...graph, expansionSearch: efs[0]! });
    addInChunks(built, vectors);
    buildLabel = ((performance.now() - t) / 1000).toFixed(1);
    builtRss = rssMiB() - rss;
    await built.save(file);
  }
  for (const ef of efs) {
    t = performance.now();
    const hnsw = HnswTier.load(file, dim, { ...graph, expansionSearch: ef }, n);
    const load = (performance.now() - t) / 1000;
    const approx = timeQueries(hnsw, queries);
    const recall = approx.labels.filter((l, i) => l === exact.labels[i]).length / queries.length;
    const samePerson = approx.labels.filter((l, i) => personOf(l) === personOf(exact.labels[i]!)).length / queries.length;
    rows.push({
      faces: n, index: `usearch HNSW M=${graph.connectivity} efC=${graph.expansionAdd} ${graph.quantization ?? "f32"} ef=${ef}`, "build s": `${buildLabel} (load ${load.toFixed(2)})`, "p50 ms": approx.p50, "p99 ms": approx.p99, "CPU ms": approx.cpu,
      "recall@1": recall, "same person as exact": samePerson, "index MiB": hnsw.sizeBytes() / 2 ** 20, "RSS growth MiB": builtRss,
    });
  }
  if (!keepGraphDir) await rm(file, { force: true });
  return rows;
}
