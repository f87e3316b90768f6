/**
 * Recognition quality on labelled photos, with the service's own pipeline (YuNet → 5-point
 * alignment → MobileFaceNet) and index (FAISS flat).
 *   npm run bench:recognition -- [--faces DIR] [--noface DIR] [--group FILE] [--threshold 0.45] [--record]
 * DIR holds images and identities.csv (file,identity), optionally pairs.csv (file_x,file_y,same).
 */
import { readFile, readdir } from "node:fs/promises";
import path from "node:path";
import { stringFlag, numberFlag } from "./lib/flags.js";
import { publish, table } from "./lib/results.js";
import { benchEngine, SHARED_FACES } from "./vision/engine.js";
import { cosine } from "../services/vision/domain/pipeline/embedder.js";
import { FaceIndex } from "../services/vision/domain/index/face-index.js";
import { FlatTier } from "../services/vision/domain/index/tiers.js";
import { loadVisionConfig } from "../services/vision/config.js";

const facesDir = path.resolve(stringFlag("--faces", path.join(SHARED_FACES, "identities"))!);
const nofaceDir = path.resolve(stringFlag("--noface", path.join(facesDir, "..", "noface"))!);
const groupFile = path.resolve(stringFlag("--group", path.join(facesDir, "..", "group", "solvay_conference_1927.png"))!);
const config = loadVisionConfig();
const threshold = numberFlag("--threshold", config.matchThreshold);
const engine = await benchEngine();

const csv = async (file: string) =>
  (await readFile(file, "utf8")).trim().split("\n").slice(1).map((line) => line.split(",").map((s) => s.trim()));

/** The largest face of a photo, embedded; undefined when none is found. */
async function embedLargest(file: string): Promise<Float32Array | undefined> {
  const image = await engine.decode(await readFile(file));
  const faces = await engine.detect(image, { minScore: config.minScore, maxFaces: 1 });
  return faces.length ? (await engine.analyse(image, faces))[0]!.embedding : undefined;
}

const labelled = await csv(path.join(facesDir, "identities.csv"));
const embeddings = new Map<string, Float32Array>();
const missed: string[] = [];
for (const [file] of labelled) {
  const e = await embedLargest(path.join(facesDir, file!));
  if (e) embeddings.set(file!, e);
  else missed.push(file!);
}

// Verification on the labelled pairs.
const pairs = await csv(path.join(facesDir, "pairs.csv")).catch(() => [] as string[][]);
const scored = pairs.flatMap(([x, y, same]) => {
  const a = embeddings.get(x!);
  const b = embeddings.get(y!);
  return a && b ? [{ s: cosine(a, b), same: same === "1" }] : [];
});
const positives = scored.filter((p) => p.same).map((p) => p.s);
const negatives = scored.filter((p) => !p.same).map((p) => p.s);
let wins = 0;
for (const p of positives) for (const n of negatives) wins += p > n ? 1 : p === n ? 0.5 : 0;
const auc = positives.length && negatives.length ? wins / (positives.length * negatives.length) : NaN;
const accuracyAt = (t: number) => scored.filter((p) => (p.s >= t) === p.same).length / scored.length;
let best = { t: threshold, acc: accuracyAt(threshold) };
for (let t = -0.2; t <= 0.9; t += 0.005) if (accuracyAt(t) > best.acc) best = { t, acc: accuracyAt(t) };

// Identification: each identity enrolled from its first photo, the others queried through the index.
const byIdentity = new Map<string, string[]>();
for (const [file, id] of labelled) if (embeddings.has(file!)) byIdentity.set(id!, [...(byIdentity.get(id!) ?? []), file!]);
const index = new FaceIndex("bench", FlatTier.create(engine.model.dimension), [], new Date());
let label = 0;
for (const [id, files] of byIdentity) index.add([{ label: ++label, userId: id, faceLabel: BigInt(label) }], [embeddings.get(files[0]!)!]);
let queries = 0;
let top1 = 0;
let top1AtThreshold = 0;
for (const [id, files] of byIdentity) {
  for (const file of files.slice(1)) {
    const [hit] = index.search(embeddings.get(file)!, 1);
    queries++;
    if (hit?.userId === id) {
      top1++;
      if (hit.similarity >= threshold) top1AtThreshold++;
    }
  }
}

// Photos without people: faces found, and matches against the enrolled identities.
let nofaceFaces = 0;
let nofaceMatches = 0;
const nofaceFiles = await readdir(nofaceDir);
for (const file of nofaceFiles) {
  const image = await engine.decode(await readFile(path.join(nofaceDir, file)));
  const faces = await engine.analyse(image, await engine.detect(image, { minScore: config.minScore }));
  nofaceFaces += faces.length;
  nofaceMatches += faces.filter((f) => (index.search(f.embedding, 1)[0]?.similarity ?? -1) >= threshold).length;
}

const group = await engine.decode(await readFile(groupFile));
const groupFaces = (await engine.detect(group, { minScore: config.minScore })).length;

const pct = (v: number) => `${(100 * v).toFixed(1)}%`;
const rows = [
  { measure: "verification AUC", value: auc.toFixed(4), target: "≥ 0.99", ok: auc >= 0.99 ? "yes" : "NO" },
  { measure: `accuracy at threshold ${threshold}`, value: pct(accuracyAt(threshold)), target: "", ok: "" },
  { measure: `best threshold on these pairs`, value: `${best.t.toFixed(3)} (accuracy ${pct(best.acc)})`, target: "", ok: "" },
  { measure: "identification top-1", value: `${pct(top1 / queries)} (${top1}/${queries})`, target: "≥ 97%", ok: top1 / queries >= 0.97 ? "yes" : "NO" },
  { measure: `top-1 and ≥ threshold`, value: `${pct(top1AtThreshold / queries)}`, target: "", ok: "" },
  { measure: "no-face photos: faces / false matches", value: `${nofaceFaces} / ${nofaceMatches} (${nofaceFiles.length} photos)`, target: "0 false matches", ok: nofaceMatches === 0 ? "yes" : "NO" },
  { measure: `faces found on ${path.basename(groupFile)}`, value: `${groupFaces}`, target: "≥ 27 of 29", ok: groupFaces >= 27 ? "yes" : "NO" },
];
await publish(
  "Recognition quality (YuNet + MobileFaceNet, FAISS flat)",
  `${labelled.length} photos of ${byIdentity.size} identities in ${facesDir} (${missed.length} without a face${missed.length ? `: ${missed.join(", ")}` : ""}), ` +
    `${scored.length} pairs (${positives.length} same). Detector min score ${config.minScore}, detection scaled to ≤ ${config.detectMaxSide} px, model ${engine.model.name}.\n\n${table(rows)}`,
);
