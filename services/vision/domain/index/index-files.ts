import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import type { IndexKind, VectorTier } from "./tiers.js";

/** What is written beside an index file, to tell at start whether the file can be trusted. */
export interface IndexManifest {
  version: 1;
  kind: IndexKind;
  modelSha256: string;
  count: number;
  labelSum: string;
  builtAt: string;
  /** sha256 of the index file: a truncated or damaged file is rebuilt, never loaded. */
  fileSha256: string;
  /** FLAT only: the label of each position (FAISS keeps positions, not ids). */
  labels?: number[];
}

/** `<dir>/<org>.index` and `<org>.json`; both written aside and renamed into place. */
export class IndexFiles {
  constructor(readonly dir: string) {}

  indexFile(organizationId: string): string {
    return path.join(this.dir, `${organizationId}.index`);
  }

  async readManifest(organizationId: string): Promise<IndexManifest | undefined> {
    try {
      const manifest = JSON.parse(await readFile(this.manifestFile(organizationId), "utf8")) as IndexManifest;
      return manifest.version === 1 ? manifest : undefined;
    } catch {
      return undefined;
    }
  }

  /** True when the index file is there and has the manifest's sha256. */
  async intact(organizationId: string, manifest: IndexManifest): Promise<boolean> {
    try {
      return (await fileSha256(this.indexFile(organizationId))) === manifest.fileSha256;
    } catch {
      return false;
    }
  }

  async write(organizationId: string, tier: VectorTier, manifest: Omit<IndexManifest, "fileSha256" | "version">): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    const file = this.indexFile(organizationId);
    const tmp = `${file}.${process.pid}.tmp`;
    await tier.save(tmp);
    const full: IndexManifest = { version: 1, ...manifest, fileSha256: await fileSha256(tmp) };
    const manifestTmp = `${this.manifestFile(organizationId)}.${process.pid}.tmp`;
    await writeFile(manifestTmp, JSON.stringify(full));
    // Index first, then manifest: a crash in between leaves a manifest whose sha256 no longer matches.
    await rename(tmp, file);
    await rename(manifestTmp, this.manifestFile(organizationId));
  }

  async remove(organizationId: string): Promise<void> {
    await rm(this.indexFile(organizationId), { force: true });
    await rm(this.manifestFile(organizationId), { force: true });
  }

  private manifestFile(organizationId: string): string {
    return path.join(this.dir, `${organizationId}.json`);
  }
}

function fileSha256(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash("sha256");
    createReadStream(file)
      .on("data", (chunk) => hash.update(chunk))
      .on("error", reject)
      .on("end", () => resolve(hash.digest("hex")));
  });
}
