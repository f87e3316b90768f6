/**
 * Vision speed on one core (onnxruntime intra-op threads 1): detection of a 640x480 frame,
 * alignment + embedding per face, Identify of a one-face 1280x720 JPEG inside the service and
 * over gRPC, and 1:N matching (exact FAISS vs usearch HNSW) with recall and memory.
 *   npm run bench:vision -- [--runs 200] [--sizes 100000,1000000] [--efs 64,128,256] [--skip-pipeline] [--skip-grpc] [--record]
 *     [--connectivity 32] [--expansion-add 200] [--quantization bf16|f16|f32] [--skip-faiss-hnsw]   (the HNSW graph measured)
 *     [--photos-per-person 1]   (1: every face a random direction; 4: people enrolled with 4 photos each)
 *     [--keep-graph DIR]   (keep each built HNSW graph in DIR and reuse it on later runs of the same data and shape)
 */
import { readFile } from "node:fs/promises";
import path from "node:path";
import sharp from "sharp";
import { loadavg } from "node:os";
import { numberFlag, stringFlag } from "./lib/flags.js";
import { publish, table } from "./lib/results.js";
import { bareDetectorRun, benchEngine, percentile, SHARED_FACES, timeRuns, type Timings } from "./vision/engine.js";
import { measureMatching } from "./vision/matching.js";
import { identifyOverGrpc } from "./vision/grpc.js";
import { FaceIndex } from "../services/vision/domain/index/face-index.js";
import { FlatTier, HNSW_GRAPH, type HnswSettings } from "../services/vision/domain/index/tiers.js";
import { syntheticFaces } from "./vision/matching.js";

const runs = numberFlag("--runs", 200);
const sizes = (stringFlag("--sizes", "100000,1000000") ?? "").split(",").filter(Boolean).map(Number);
const efs = (stringFlag("--efs", "64,128,256") ?? "").split(",").map(Number);
const load = loadavg().map((l) => l.toFixed(2)).join(", ");
const engine = await benchEngine({ ROLLCALL_VISION_THREADS: "1" });

const summary = (name: string, t: Timings, target: string, per = 1) => ({
  measure: name, "p50 ms": percentile(t.ms, 50) / per, "p99 ms": percentile(t.ms, 99) / per, "CPU ms": t.cpuMs / per, target,
});
const rows: Record<string, string | number>[] = [];

if (!process.argv.includes("--skip-pipeline")) {
  // A 640x480 camera frame and a 1280x720 one with one face, as JPEG.
  const portrait = await readFile(path.join(SHARED_FACES, "identities", "img2.jpg"));
  const frame640 = await sharp(await readFile(path.join(SHARED_FACES, "group", "couple.jpg"))).resize(640, 480, { fit: "cover" }).jpeg({ quality: 85 }).toBuffer();
  const frame720 = await sharp(portrait).resize(1280, 720, { fit: "contain", background: "#404040" }).jpeg({ quality: 85 }).toBuffer();

  const img640 = await engine.decode(frame640);
  rows.push(summary("decode 640x480 JPEG", await timeRuns(runs, 20, () => engine.decode(frame640)), ""));
  rows.push(summary("decode 1280x720 JPEG (reduced to 640x360 for detection)", await timeRuns(runs, 20, () => engine.decode(frame720)), ""));
  rows.push(summary("detect 640x480 (decode + detect)", await timeRuns(runs, 20, async () => engine.detect(await engine.decode(frame640))), "≤ 8"));
  rows.push(summary("detect 640x480 (detect only)", await timeRuns(runs, 20, () => engine.detect(img640)), ""));
  rows.push(summary("detect 640x480 (YuNet session.run only: the floor)", await timeRuns(runs, 20, await bareDetectorRun(640, 480, { ROLLCALL_VISION_THREADS: "1" })), ""));

  const img720 = await engine.decode(frame720);
  const [face] = await engine.detect(img720);
  rows.push(summary("align + embed, 1 face", await timeRuns(runs, 20, () => engine.analyse(img720, [face!])), "≤ 4"));
  const solvay = await engine.decode(await readFile(path.join(SHARED_FACES, "group", "solvay_conference_1927.png")));
  const eight = (await engine.detect(solvay)).slice(0, 8);
  const batched = await timeRuns(Math.max(20, runs / 4), 5, () => engine.analyse(solvay, eight));
  rows.push(summary("align + embed, 8 faces batched (per face)", batched, "≤ 4", 8));

  // Identify inside the service: decode, detect, align, embed, search an index of 10,000 faces.
  const index = new FaceIndex("bench", FlatTier.create(engine.model.dimension), [], new Date());
  const { vectors } = syntheticFaces(10_000, engine.model.dimension, 0);
  index.add(vectors.map((_, i) => ({ label: i + 1, userId: `user-${i}`, faceLabel: BigInt(i + 1) })), vectors);
  const identify = async () => {
    const image = await engine.decode(frame720);
    const faces = await engine.analyse(image, await engine.detect(image, { minScore: 0.7 }));
    return faces.map((f) => index.search(f.embedding, 1));
  };
  rows.push(summary("Identify 1280x720, 1 face, in-service (10k faces)", await timeRuns(runs, 20, identify), "≤ 20"));
  if (!process.argv.includes("--skip-grpc")) {
    rows.push(summary("Identify 1280x720, 1 face, over gRPC", await identifyOverGrpc(frame720, portrait, runs), "≤ 30"));
  }
}

const matching: Record<string, string | number>[] = [];
const graph = {
  connectivity: numberFlag("--connectivity", HNSW_GRAPH.connectivity),
  expansionAdd: numberFlag("--expansion-add", HNSW_GRAPH.expansionAdd),
  quantization: (stringFlag("--quantization", HNSW_GRAPH.quantization) ?? HNSW_GRAPH.quantization) as HnswSettings["quantization"],
};
if (!["f32", "bf16", "f16"].includes(graph.quantization!)) throw new Error(`--quantization must be f32, bf16 or f16, got ${graph.quantization}`);
const photosPerPerson = numberFlag("--photos-per-person", 1);
for (const n of sizes) matching.push(...(await measureMatching(n, engine.model.dimension, 1000, efs, graph, process.argv.includes("--skip-faiss-hnsw") ? 0 : 100_000, photosPerPerson, stringFlag("--keep-graph", undefined))));

await publish(
  "Vision speed (one core per inference)",
  (rows.length ? `onnxruntime-node intra-op threads 1, models ${engine.model.name} + YuNet-s dynamic, detection scaled to ≤ 640 px. ` +
    `Load average at start: ${load} (2 cores, shared with other work). ${runs} runs after a warm-up; gRPC calls are sequential, ` +
    `client and the all-in-one mesh in this process. CPU ms: CPU time of the whole process per run (every thread), which other ` +
    `work on the machine inflates less than wall time. Images are decoded reduced to the detector's size in one libvips pass; ` +
    `faces large enough are aligned from those pixels, smaller ones from the full image.\n\n${table(rows)}\n\n` : `Load average at start: ${load}.\n\n`) +
    (matching.length
      ? `1:N matching, 128-d unit vectors, 1,000 single queries, ${photosPerPerson === 1
          ? "every enrolled face a random direction, queries noisy copies of enrolled ones (cosine ≈ 0.7)"
          : `${photosPerPerson} photos per enrolled person: a random direction per person, photos and queries noisy copies of it (cosine ≈ 0.7 between two photos of one person)`}; ` +
        `recall@1 against exact search (same face), and how often the face found belongs to the same person as exact search's; HNSW built with 2 threads; CPU ms per query.\n\n${table(matching)}\n\n` +
        `Load average at end: ${loadavg().map((l) => l.toFixed(2)).join(", ")}.`
      : ""),
);
