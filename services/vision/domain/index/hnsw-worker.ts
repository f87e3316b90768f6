import { parentPort, workerData } from "node:worker_threads";
import { HnswTier, type HnswSettings } from "./tiers.js";

/** Builds an HNSW graph off the main thread and saves it to a file (see buildHnswOffThread). */
export interface HnswBuildJob {
  dimension: number;
  settings: HnswSettings;
  labels: Float64Array;
  /** labels.length * dimension floats, row after row. */
  vectors: Float32Array;
  file: string;
}

const job = workerData as HnswBuildJob;
const tier = HnswTier.create(job.dimension, job.settings);
const rows = Array.from({ length: job.labels.length }, (_, i) => job.vectors.subarray(i * job.dimension, (i + 1) * job.dimension));
tier.add(Array.from(job.labels), rows);
await tier.save(job.file);
parentPort!.postMessage("built");
