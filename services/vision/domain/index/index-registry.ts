import type { Database } from "../../../runtime/db/index.js";
import type { Logger } from "../../../runtime/logger.js";
import { bytesToVector, type EmbeddingRow, type FacesRepo } from "../../storage/faces-repo.js";
import type { EmbeddingModel } from "../pipeline/engine.js";
import { FaceIndex, type IndexedFace } from "./face-index.js";
import type { IndexFiles, IndexManifest } from "./index-files.js";
import { KeyedMutex } from "./keyed-mutex.js";
import { buildHnswOffThread, FlatTier, HnswTier, type HnswSettings, type VectorTier } from "./tiers.js";

export interface IndexRegistryOptions {
  db: Database;
  repo: FacesRepo;
  files: IndexFiles;
  model: EmbeddingModel;
  /** From this many faces an organisation's index is HNSW instead of exact. */
  annThreshold: number;
  hnsw: HnswSettings;
  logger: Logger;
  /**
   * Changes are written to disk this long after the last one. Default: 1 s, or 60 s for
   * indexes over 100,000 faces, whose file takes seconds to write (a crash in between only
   * costs a rebuild at start).
   */
  persistDelayMs?: number;
}

export type OpenOutcome = "loaded" | "rebuilt" | "empty";

/**
 * Every organisation's index in this process. Postgres is the truth: an index is loaded from
 * its file only when the file is intact and matches face_embeddings (same model, count and
 * label sum), otherwise rebuilt from the stored vectors. Changes to one organisation's index
 * are serialised; files are written shortly after changes and on stop.
 */
export class IndexRegistry {
  private readonly indexes = new Map<string, Promise<FaceIndex>>();
  private readonly mutex = new KeyedMutex();
  private readonly pendingWrites = new Map<string, NodeJS.Timeout>();
  private readonly changeListeners: ((organizationId: string) => void)[] = [];
  private readonly log: Logger;

  constructor(private readonly options: IndexRegistryOptions) {
    this.log = options.logger.child({ component: "face-index" });
  }

  /** At start: opens (verifies or rebuilds) the index of every organisation with faces. */
  async openAll(): Promise<Record<OpenOutcome, number>> {
    const { db, repo, model } = this.options;
    const orgs = await db.withSystem((tx) => repo.organizationsWithEmbeddings(tx, model.name));
    const outcomes: Record<OpenOutcome, number> = { loaded: 0, rebuilt: 0, empty: 0 };
    for (const org of orgs) {
      const opened = this.open(org);
      this.indexes.set(org, opened.then((o) => o.index));
      outcomes[(await opened).outcome]++;
    }
    return outcomes;
  }

  /** Told after each change this process makes to an index (not after reconciling others'). */
  onChange(listener: (organizationId: string) => void): void {
    this.changeListeners.push(listener);
  }

  get(organizationId: string): Promise<FaceIndex> {
    let index = this.indexes.get(organizationId);
    if (!index) {
      index = this.mutex.run(organizationId, async () => (await this.open(organizationId)).index);
      this.indexes.set(organizationId, index);
      index.catch(() => this.indexes.delete(organizationId));
    }
    return index;
  }

  /** Adds faces already committed to Postgres. */
  add(organizationId: string, faces: readonly IndexedFace[], vectors: readonly Float32Array[]): Promise<void> {
    return this.change(organizationId, async (index) => {
      // A load racing with this enrolment may already have read these rows.
      const fresh = faces.flatMap((f, i) => (index.has(f.label) ? [] : [i]));
      index.add(fresh.map((i) => faces[i]!), fresh.map((i) => vectors[i]!));
      if (index.kind === "FLAT" && index.count >= this.options.annThreshold) {
        this.log.info({ organizationId, count: index.count }, "index reached the ANN threshold; rebuilding as HNSW");
        return this.build(organizationId);
      }
      return index;
    });
  }

  /** Removes faces already deleted from Postgres. */
  remove(organizationId: string, labels: readonly number[]): Promise<void> {
    return this.change(organizationId, async (index) => {
      index.remove(labels);
      return index;
    });
  }

  /** Forgets an organisation whose faces are all deleted: its index in memory and its file. */
  async drop(organizationId: string): Promise<void> {
    await this.mutex.run(organizationId, async () => {
      clearTimeout(this.pendingWrites.get(organizationId));
      this.pendingWrites.delete(organizationId);
      this.indexes.delete(organizationId);
      await this.options.files.remove(organizationId);
    });
    this.announce(organizationId);
  }

  /**
   * Brings this process's copy of an organisation's index in line with Postgres after another
   * replica changed it: adds the embeddings it lacks, removes those that are gone. An index not
   * loaded here is left alone (it is read fresh when first used).
   */
  async reconcile(organizationId: string): Promise<{ added: number; removed: number }> {
    const counts = { added: 0, removed: 0 };
    if (!this.indexes.has(organizationId)) return counts;
    const { db, repo, model } = this.options;
    await this.change(organizationId, async (index) => {
      const rows = await db.withTenant(organizationId, (tx) => repo.allEmbeddings(tx, model.name, false));
      const stored = new Set(rows.map((r) => Number(r.index_label)));
      const gone = [...index.labels()].filter((label) => !stored.has(label));
      const missing = rows.map((r) => Number(r.index_label)).filter((label) => !index.has(label));
      index.remove(gone);
      const added = missing.length === 0 ? [] : await db.withTenant(organizationId, (tx) => repo.embeddingsByLabels(tx, model.name, missing));
      index.add(added.map(indexedFace), added.map((r) => bytesToVector(r.vector)));
      Object.assign(counts, { added: added.length, removed: gone.length });
      return index.kind === "FLAT" && index.count >= this.options.annThreshold ? this.build(organizationId) : index;
    }, false);
    if (counts.added + counts.removed > 0) this.log.info({ organizationId, ...counts }, "index reconciled with changes from another replica");
    return counts;
  }

  /** Reconciles every loaded index whose (count, label sum) differs from Postgres. */
  async reconcileStale(): Promise<void> {
    const { db, repo, model } = this.options;
    for (const [organizationId, loaded] of this.indexes) {
      const index = await loaded.catch(() => undefined);
      if (!index) continue;
      const digest = await db.withTenant(organizationId, (tx) => repo.digest(tx, model.name));
      if (digest.count !== index.digest.count || digest.labelSum !== index.digest.labelSum) await this.reconcile(organizationId);
    }
  }

  rebuild(organizationId: string): Promise<FaceIndex> {
    const rebuilt = this.mutex.run(organizationId, async () => {
      const index = await this.build(organizationId);
      await this.persist(index);
      return index;
    });
    this.indexes.set(organizationId, rebuilt);
    void rebuilt.then(() => this.announce(organizationId), () => undefined);
    return rebuilt;
  }

  /** Writes every index with unsaved changes. */
  async stop(): Promise<void> {
    const orgs = [...this.pendingWrites.keys()];
    for (const timer of this.pendingWrites.values()) clearTimeout(timer);
    this.pendingWrites.clear();
    await Promise.all(orgs.map((org) => this.mutex.run(org, async () => this.persist(await this.get(org)))));
  }

  private async change(organizationId: string, fn: (index: FaceIndex) => Promise<FaceIndex>, announce = true): Promise<void> {
    await this.get(organizationId);
    const count = await this.mutex.run(organizationId, async () => {
      // Read inside the lock: a rebuild queued before us may have replaced the index.
      const current = await this.get(organizationId);
      const next = await fn(current);
      if (next !== current) this.indexes.set(organizationId, Promise.resolve(next));
      return next.count;
    });
    this.schedulePersist(organizationId, this.options.persistDelayMs ?? (count > 100_000 ? 60_000 : 1_000));
    if (announce) this.announce(organizationId);
  }

  private announce(organizationId: string): void {
    for (const listener of this.changeListeners) listener(organizationId);
  }

  private schedulePersist(organizationId: string, delayMs: number): void {
    clearTimeout(this.pendingWrites.get(organizationId));
    const timer = setTimeout(() => {
      this.pendingWrites.delete(organizationId);
      this.mutex
        .run(organizationId, async () => this.persist(await this.get(organizationId)))
        .catch((err) => this.log.error({ err, organizationId }, "could not write the index file; it will be rebuilt at next start"));
    }, delayMs);
    timer.unref();
    this.pendingWrites.set(organizationId, timer);
  }

  private async open(organizationId: string): Promise<{ index: FaceIndex; outcome: OpenOutcome }> {
    const { db, repo, files, model } = this.options;
    const manifest = await files.readManifest(organizationId);
    const digest = await db.withTenant(organizationId, (tx) => repo.digest(tx, model.name));
    if (digest.count === 0) {
      if (manifest) await files.remove(organizationId);
      return { index: new FaceIndex(organizationId, FlatTier.create(model.dimension), [], new Date()), outcome: "empty" };
    }
    const why = manifest ? await this.staleness(organizationId, manifest, digest) : "no index file";
    if (!why) {
      try {
        const index = await this.load(organizationId, manifest!);
        this.log.info({ organizationId, count: index.count, kind: index.kind }, "index loaded from its file");
        return { index, outcome: "loaded" };
      } catch (err) {
        this.log.warn({ err, organizationId }, "index file could not be loaded; rebuilding");
      }
    } else {
      this.log.info({ organizationId, reason: why }, "rebuilding the index from Postgres");
    }
    const index = await this.build(organizationId);
    await this.persist(index);
    return { index, outcome: "rebuilt" };
  }

  private async staleness(org: string, m: IndexManifest, digest: { count: number; labelSum: string }): Promise<string | undefined> {
    if (m.modelSha256 !== this.options.model.sha256) return "built with another model";
    if (m.count !== digest.count || m.labelSum !== digest.labelSum) return `out of date (file ${m.count} faces, Postgres ${digest.count})`;
    if (!(await this.options.files.intact(org, m))) return "index file missing or damaged";
    return undefined;
  }

  private async load(organizationId: string, manifest: IndexManifest): Promise<FaceIndex> {
    const { db, repo, files, model } = this.options;
    const file = files.indexFile(organizationId);
    const tier: VectorTier =
      manifest.kind === "FLAT"
        ? await FlatTier.load(file, model.dimension, manifest.labels ?? [])
        : HnswTier.load(file, model.dimension, this.options.hnsw, manifest.count);
    const rows = await db.withTenant(organizationId, (tx) => repo.allEmbeddings(tx, model.name, false));
    const owners = rows.map(indexedFace);
    return new FaceIndex(organizationId, tier, owners, new Date(manifest.builtAt));
  }

  /** A new index from the vectors in Postgres, exact or HNSW by size. */
  private async build(organizationId: string): Promise<FaceIndex> {
    const { db, repo, model, annThreshold } = this.options;
    const started = performance.now();
    const rows = await db.withTenant(organizationId, (tx) => repo.allEmbeddings(tx, model.name, true));
    const faces = rows.map(indexedFace);
    const vectors = rows.map((r) => bytesToVector(r.vector));
    let index: FaceIndex;
    if (rows.length >= annThreshold) {
      const tier = await buildHnswOffThread(model.dimension, this.options.hnsw, faces.map((f) => f.label), vectors);
      index = new FaceIndex(organizationId, tier, faces, new Date());
    } else {
      index = new FaceIndex(organizationId, FlatTier.create(model.dimension), [], new Date());
      index.add(faces, vectors);
    }
    this.log.info({ organizationId, count: index.count, kind: index.kind, ms: Math.round(performance.now() - started) }, "index built");
    return index;
  }

  private async persist(index: FaceIndex): Promise<void> {
    const { files, model } = this.options;
    if (index.count === 0) return files.remove(index.organizationId);
    await files.write(index.organizationId, index.tier, {
      kind: index.kind,
      modelSha256: model.sha256,
      ...index.digest,
      builtAt: index.builtAt.toISOString(),
      labels: index.tier instanceof FlatTier ? [...index.tier.positionLabels()] : undefined,
    });
  }
}

function indexedFace(row: EmbeddingRow): IndexedFace {
  return { label: Number(row.index_label), userId: row.user_id, faceLabel: BigInt(row.face_label ?? 0) };
}
