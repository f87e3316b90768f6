import path from "node:path";
import type { Database } from "../../runtime/db/index.js";
import type { Logger } from "../../runtime/logger.js";
import type { MeshClients } from "../../runtime/mesh-clients.js";
import type { VisionConfig } from "../config.js";
import { FacesRepo } from "../storage/faces-repo.js";
import { FileImageStore, type ImageStore } from "../storage/image-store.js";
import { Enrolment } from "./enrolment.js";
import { FaceLibrary } from "./face-library.js";
import { IndexFiles } from "./index/index-files.js";
import { IndexRegistry } from "./index/index-registry.js";
import { HNSW_GRAPH } from "./index/tiers.js";
import { FaceEngine } from "./pipeline/engine.js";
import { Recognition } from "./recognition.js";
import { OrganizationThresholds, type ThresholdSource } from "./thresholds.js";

/** The vision domain, assembled: what handlers and the frame consumer work with. */
export interface VisionCore {
  config: VisionConfig;
  db: Database;
  engine: FaceEngine;
  repo: FacesRepo;
  images: ImageStore;
  registry: IndexRegistry;
  enrolment: Enrolment;
  library: FaceLibrary;
  recognition: Recognition;
  thresholds: ThresholdSource;
}

export interface VisionCoreOptions {
  config: VisionConfig;
  db: Database;
  /** Face images go to `<dataDir>/vision/faces`, index files to `<dataDir>/vision/index`. */
  dataDir: string;
  logger: Logger;
  clients?: MeshClients;
  /** Reuse an engine (tests load the models once). */
  engine?: FaceEngine;
  persistDelayMs?: number;
}

export async function createVisionCore(options: VisionCoreOptions): Promise<VisionCore> {
  const { config, db, logger } = options;
  const engine =
    options.engine ??
    (await FaceEngine.load({ modelsDir: config.modelsDir, threads: config.threads, limits: config.limits, detectMaxSide: config.detectMaxSide }));
  const repo = new FacesRepo(db);
  const images = new FileImageStore(path.join(options.dataDir, "vision", "faces"));
  const registry = new IndexRegistry({
    db,
    repo,
    files: new IndexFiles(path.join(options.dataDir, "vision", "index")),
    model: engine.model,
    annThreshold: config.annThreshold,
    hnsw: { ...HNSW_GRAPH, expansionSearch: config.annExpansionSearch, quantization: config.annQuantization },
    logger,
    persistDelayMs: options.persistDelayMs,
  });
  return {
    config,
    db,
    engine,
    repo,
    images,
    registry,
    enrolment: new Enrolment({ engine, db, repo, images, registry, config }),
    library: new FaceLibrary(db, repo, images, registry, logger),
    recognition: new Recognition(engine, db, repo, registry, config.minScore),
    thresholds: new OrganizationThresholds({ match: config.matchThreshold, lowConfidenceMargin: config.lowConfidenceMargin }, options.clients, logger),
  };
}
