import type { Transaction } from "sequelize";
import type { Database } from "../../runtime/db/index.js";
import { Sql } from "../../runtime/db/index.js";

export interface FaceImageRow {
  id: string;
  organization_id: string;
  user_id: string | null;
  image_type: "KNOWN" | "UNKNOWN";
  file_path: string;
  sha256: string;
  width: number;
  height: number;
  quality: Record<string, number>;
  captured_at: Date | null;
  device_id: string | null;
  created_at: Date;
  /** From the joined embedding; null when the image has none (unknown faces). */
  index_label: string | null;
  model: string | null;
}

export interface NewFaceImage {
  id: string;
  userId: string | null;
  filePath: string;
  sha256: string;
  width: number;
  height: number;
  quality: object;
  capturedAt: Date | null;
  deviceId: string | null;
}

export interface NewEmbedding {
  id: string;
  userId: string;
  imageId: string;
  vector: Float32Array;
  model: string;
  modelSha256: string;
  /** The person's label from identity. */
  faceLabel: bigint;
}

export interface EmbeddingRow {
  index_label: string;
  user_id: string;
  /** Null for embeddings stored before face labels were recorded. */
  face_label: string | null;
  image_id: string;
  vector: Buffer;
}

/** Count and label sum of an organisation's embeddings: enough to tell a stale index file. */
export interface IndexDigest {
  count: number;
  labelSum: string;
}

const FACE_COLUMNS = `i.id, i.organization_id, i.user_id, i.image_type, i.file_path, i.sha256, i.width, i.height,
  i.quality, i.captured_at, i.device_id, i.created_at, e.index_label, e.model`;

/** SQL of vision.face_images and vision.face_embeddings; every call runs in the caller's tenant transaction. */
export class FacesRepo {
  private readonly sql: Sql;

  constructor(readonly db: Database) {
    this.sql = new Sql(db.sequelize);
  }

  /** Serialises enrolments of one user, so the face limit holds under concurrent calls. */
  async lockUser(tx: Transaction, userId: string): Promise<void> {
    await this.sql.rows(tx, "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", [`vision.user.${userId}`]);
  }

  listKnown(tx: Transaction, userId: string): Promise<FaceImageRow[]> {
    return this.sql.rows<FaceImageRow>(
      tx,
      `SELECT ${FACE_COLUMNS} FROM vision.face_images i LEFT JOIN vision.face_embeddings e ON e.image_id = i.id
       WHERE i.image_type = 'KNOWN' AND i.user_id = $1 ORDER BY i.created_at, i.id`,
      [userId],
    );
  }

  getFace(tx: Transaction, faceId: string): Promise<FaceImageRow | undefined> {
    return this.sql.row<FaceImageRow>(
      tx,
      `SELECT ${FACE_COLUMNS} FROM vision.face_images i LEFT JOIN vision.face_embeddings e ON e.image_id = i.id WHERE i.id = $1`,
      [faceId],
    );
  }

  /** `ifAbsent`: an image with this id already stored is left as it is (idempotent retries). */
  async insertImage(tx: Transaction, organizationId: string, image: NewFaceImage, ifAbsent = false): Promise<void> {
    await this.sql.execute(
      tx,
      `INSERT INTO vision.face_images (id, organization_id, user_id, image_type, file_path, sha256, width, height, quality, captured_at, device_id)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)${ifAbsent ? " ON CONFLICT (id) DO NOTHING" : ""}`,
      [image.id, organizationId, image.userId, image.userId ? "KNOWN" : "UNKNOWN", image.filePath, image.sha256,
        image.width, image.height, JSON.stringify(image.quality), image.capturedAt, image.deviceId],
    );
  }

  /** Returns the embedding's index label. */
  async insertEmbedding(tx: Transaction, organizationId: string, e: NewEmbedding): Promise<number> {
    const row = await this.sql.row<{ index_label: string }>(
      tx,
      `INSERT INTO vision.face_embeddings (id, organization_id, user_id, image_id, vector, model, model_sha256, face_label)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING index_label`,
      [e.id, organizationId, e.userId, e.imageId, vectorToBytes(e.vector), e.model, e.modelSha256, e.faceLabel.toString()],
    );
    return Number(row!.index_label);
  }

  /** Deletes images (their embeddings cascade); returns what was deleted. */
  deleteImages(tx: Transaction, where: { faceId: string } | { userId: string } | { organizationId: string }): Promise<{ id: string; file_path: string; index_label: string | null }[]> {
    const [condition, value] =
      "faceId" in where ? ["i.id = $1", where.faceId]
      : "userId" in where ? ["i.user_id = $1 AND i.image_type = 'KNOWN'", where.userId]
      : ["i.organization_id = $1", where.organizationId];
    return this.sql.rows(
      tx,
      `WITH gone AS (DELETE FROM vision.face_images i WHERE ${condition} RETURNING i.id, i.file_path)
       SELECT gone.id, gone.file_path, e.index_label FROM gone LEFT JOIN vision.face_embeddings e ON e.image_id = gone.id`,
      [value],
    );
  }

  userEmbeddings(tx: Transaction, userId: string, model: string): Promise<EmbeddingRow[]> {
    return this.sql.rows<EmbeddingRow>(
      tx,
      "SELECT index_label, user_id, face_label, image_id, vector FROM vision.face_embeddings WHERE user_id = $1 AND model = $2",
      [userId, model],
    );
  }

  /** Every embedding of the organisation, in label order, vectors only when asked (they are the bulk). */
  allEmbeddings(tx: Transaction, model: string, withVectors: boolean): Promise<EmbeddingRow[]> {
    return this.sql.rows<EmbeddingRow>(
      tx,
      `SELECT index_label, user_id, face_label, image_id${withVectors ? ", vector" : ""} FROM vision.face_embeddings WHERE model = $1 ORDER BY index_label`,
      [model],
    );
  }

  /** The given embeddings, with their vectors (what another replica added). */
  embeddingsByLabels(tx: Transaction, model: string, labels: readonly number[]): Promise<EmbeddingRow[]> {
    return this.sql.rows<EmbeddingRow>(
      tx,
      "SELECT index_label, user_id, face_label, image_id, vector FROM vision.face_embeddings WHERE model = $1 AND index_label = ANY($2::bigint[]) ORDER BY index_label",
      [model, labels.map(String)],
    );
  }

  async digest(tx: Transaction, model: string): Promise<IndexDigest> {
    const row = await this.sql.row<{ count: string; label_sum: string | null }>(
      tx,
      "SELECT count(*) AS count, sum(index_label)::text AS label_sum FROM vision.face_embeddings WHERE model = $1",
      [model],
    );
    return { count: Number(row!.count), labelSum: row!.label_sum ?? "0" };
  }

  /** Across tenants (system transaction): organisations that have embeddings of this model. */
  async organizationsWithEmbeddings(tx: Transaction, model: string): Promise<string[]> {
    const rows = await this.sql.rows<{ organization_id: string }>(
      tx,
      "SELECT DISTINCT organization_id FROM vision.face_embeddings WHERE model = $1",
      [model],
    );
    return rows.map((r) => r.organization_id);
  }
}

export function vectorToBytes(v: Float32Array): Buffer {
  const out = Buffer.alloc(v.length * 4);
  for (let i = 0; i < v.length; i++) out.writeFloatLE(v[i]!, i * 4);
  return out;
}

export function bytesToVector(b: Buffer): Float32Array {
  const out = new Float32Array(b.length / 4);
  for (let i = 0; i < out.length; i++) out[i] = b.readFloatLE(i * 4);
  return out;
}
