import type { Database } from "../../runtime/db/index.js";
import type { Logger } from "../../runtime/logger.js";
import type { FaceImageRow, FacesRepo } from "../storage/faces-repo.js";
import type { ImageStore } from "../storage/image-store.js";
import type { IndexRegistry } from "./index/index-registry.js";

/** Listing and deleting stored faces: Postgres first, then the index, then the image files. */
export class FaceLibrary {
  constructor(
    private readonly db: Database,
    private readonly repo: FacesRepo,
    private readonly images: ImageStore,
    private readonly registry: IndexRegistry,
    private readonly logger: Logger,
  ) {}

  list(organizationId: string, userId: string): Promise<FaceImageRow[]> {
    return this.db.withTenant(organizationId, (tx) => this.repo.listKnown(tx, userId));
  }

  get(organizationId: string, faceId: string): Promise<FaceImageRow | undefined> {
    return this.db.withTenant(organizationId, (tx) => this.repo.getFace(tx, faceId));
  }

  /** Deletes one face; returns how many enrolled faces its user has left (undefined: no such face). */
  async deleteFace(organizationId: string, faceId: string): Promise<{ userId: string | null; remaining: number } | undefined> {
    const result = await this.db.withTenant(organizationId, async (tx) => {
      const face = await this.repo.getFace(tx, faceId);
      if (!face) return undefined;
      const gone = await this.repo.deleteImages(tx, { faceId });
      const remaining = face.user_id ? (await this.repo.listKnown(tx, face.user_id)).length : 0;
      return { userId: face.user_id, remaining, gone };
    });
    if (!result) return undefined;
    await this.forget(organizationId, result.gone);
    return { userId: result.userId, remaining: result.remaining };
  }

  /** Deletes every enrolled face of a user; returns how many there were. */
  async deleteUserFaces(organizationId: string, userId: string): Promise<number> {
    const gone = await this.db.withTenant(organizationId, async (tx) => {
      await this.repo.lockUser(tx, userId);
      return this.repo.deleteImages(tx, { userId });
    });
    await this.forget(organizationId, gone);
    return gone.length;
  }

  /** Removes everything of a deleted organisation: rows, index and image files. Idempotent. */
  async deleteOrganization(organizationId: string): Promise<number> {
    const gone = await this.db.withTenant(organizationId, (tx) => this.repo.deleteImages(tx, { organizationId }));
    await this.registry.drop(organizationId);
    await this.removeFiles(gone);
    return gone.length;
  }

  private async forget(organizationId: string, gone: { file_path: string; index_label: string | null }[]): Promise<void> {
    const labels = gone.flatMap((g) => (g.index_label === null ? [] : [Number(g.index_label)]));
    if (labels.length > 0) await this.registry.remove(organizationId, labels);
    await this.removeFiles(gone);
  }

  private async removeFiles(gone: { file_path: string }[]): Promise<void> {
    for (const { file_path } of gone) {
      // Rows are gone; a file left behind is only disk space, so log it rather than fail the call.
      await this.images.delete(file_path).catch((err) => this.logger.warn({ err, file_path }, "could not delete a face image file"));
    }
  }
}
