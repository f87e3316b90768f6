import { randomUUID } from "node:crypto";
import type { Database } from "../../runtime/db/index.js";
import type { VisionConfig } from "../config.js";
import type { FacesRepo, FaceImageRow } from "../storage/faces-repo.js";
import { bytesToVector } from "../storage/faces-repo.js";
import { imageKey, type ImageStore } from "../storage/image-store.js";
import type { IndexRegistry } from "./index/index-registry.js";
import { ImageError } from "./pipeline/decode.js";
import type { Detection } from "./pipeline/detector.js";
import { cosine } from "./pipeline/embedder.js";
import type { AnalysedFace, FaceEngine } from "./pipeline/engine.js";
import { sha256 } from "./pipeline/models.js";

export type RejectReason =
  | "NO_FACE" | "MULTIPLE_FACES" | "TOO_SMALL" | "LOW_SCORE" | "BLURRY" | "NOT_FRONTAL"
  | "DUPLICATE" | "LIMIT_REACHED" | "UNDECODABLE" | "TOO_LARGE";

export interface EnrolPhoto {
  filename: string;
  content: Uint8Array;
}

export interface EnrolResult {
  filename: string;
  accepted: boolean;
  faceId?: string;
  reason?: RejectReason;
  detail: string;
  detection?: Detection;
}

/** Who is enrolled: the identity user and their stable face label. */
export interface Person {
  userId: string;
  faceLabel: bigint;
}

export interface EnrolOutcome {
  results: EnrolResult[];
  faceCount: number;
  faceLimit: number;
}

/** A photo that passed every check that needs no database: one good face, embedded. */
interface Candidate {
  photo: EnrolPhoto;
  face: AnalysedFace;
  sha256: string;
  ext: string;
  width: number;
  height: number;
}

/** Another face at least this fraction of the main face's width makes the photo ambiguous. */
const SECOND_FACE_RATIO = 0.5;
/** Embeddings this similar to one already enrolled for the user add nothing. */
const DUPLICATE_SIMILARITY = 0.97;

export interface EnrolmentDeps {
  engine: FaceEngine;
  db: Database;
  repo: FacesRepo;
  images: ImageStore;
  registry: IndexRegistry;
  config: Pick<VisionConfig, "enrol">;
}

/**
 * Enrolment: every photo must show exactly one good face (size, detector score, focus, pose);
 * accepted photos are stored (bytes in the image store, embedding in Postgres) and indexed.
 * Rejections are results naming the photo and the reason, never errors.
 */
export class Enrolment {
  constructor(private readonly deps: EnrolmentDeps) {}

  async enrol(organizationId: string, person: Person, photos: readonly EnrolPhoto[]): Promise<EnrolOutcome> {
    const { userId, faceLabel } = person;
    const checked: (Candidate | EnrolResult)[] = [];
    for (const photo of photos) checked.push(await this.check(photo));
    const { db, repo, images, engine, config } = this.deps;
    const written: string[] = [];
    try {
      const { results, faceCount, added } = await db.withTenant(organizationId, async (tx) => {
        await repo.lockUser(tx, userId);
        const existing = await repo.listKnown(tx, userId);
        const vectors = (await repo.userEmbeddings(tx, userId, engine.model.name)).map((e) => bytesToVector(e.vector));
        const hashes = new Set(existing.map((f: FaceImageRow) => f.sha256));
        let count = existing.length;
        const added: { label: number; vector: Float32Array }[] = [];
        const results: EnrolResult[] = [];
        for (const item of checked) {
          if (!("face" in item)) {
            results.push(item);
            continue;
          }
          const { face } = item;
          const rejected = (reason: RejectReason, detail: string) =>
            results.push({ filename: item.photo.filename, accepted: false, reason, detail, detection: face.detection });
          if (hashes.has(item.sha256)) {
            rejected("DUPLICATE", "this exact image is already enrolled for the user");
            continue;
          }
          const closest = Math.max(-1, ...vectors.map((v) => cosine(v, face.embedding)));
          if (closest >= DUPLICATE_SIMILARITY) {
            rejected("DUPLICATE", `a near-identical face is already enrolled (similarity ${closest.toFixed(3)})`);
            continue;
          }
          if (count >= config.enrol.faceLimit) {
            rejected("LIMIT_REACHED", `the user already has ${count} of ${config.enrol.faceLimit} faces; delete one first`);
            continue;
          }
          const faceId = randomUUID();
          const key = imageKey(organizationId, faceId, item.ext);
          await images.put(key, item.photo.content);
          written.push(key);
          await repo.insertImage(tx, organizationId, {
            id: faceId, userId, filePath: key, sha256: item.sha256, width: item.width, height: item.height,
            quality: face.quality, capturedAt: null, deviceId: null,
          });
          const label = await repo.insertEmbedding(tx, organizationId, {
            id: randomUUID(), userId, imageId: faceId, vector: face.embedding, model: engine.model.name, modelSha256: engine.model.sha256, faceLabel,
          });
          added.push({ label, vector: face.embedding });
          hashes.add(item.sha256);
          vectors.push(face.embedding);
          count++;
          results.push({ filename: item.photo.filename, accepted: true, faceId, detail: "", detection: face.detection });
        }
        return { results, faceCount: count, added };
      });
      await this.deps.registry.add(organizationId, added.map((a) => ({ label: a.label, userId, faceLabel })), added.map((a) => a.vector));
      return { results, faceCount, faceLimit: config.enrol.faceLimit };
    } catch (err) {
      // The transaction rolled back: the image files written for it are orphans.
      await Promise.all(written.map((key) => images.delete(key).catch(() => {})));
      throw err;
    }
  }

  /** The checks that need no database, in the order a person would fix them. */
  private async check(photo: EnrolPhoto): Promise<Candidate | EnrolResult> {
    const { engine, config } = this.deps;
    const gates = config.enrol;
    const reject = (reason: RejectReason, detail: string, detection?: Detection): EnrolResult =>
      ({ filename: photo.filename, accepted: false, reason, detail, detection });
    let image;
    try {
      image = await engine.decode(photo.content);
    } catch (err) {
      if (err instanceof ImageError) return reject(err.problem, `image ${err.message}`);
      throw err;
    }
    const faces = await engine.detect(image, { maxFaces: 10 });
    const main = faces[0];
    if (!main) return reject("NO_FACE", "no face was found");
    const others = faces.slice(1).filter((f) => f.box.width >= SECOND_FACE_RATIO * main.box.width);
    if (others.length > 0) return reject("MULTIPLE_FACES", `${others.length + 1} faces were found; the photo must show one person`, main);
    const facePx = Math.min(main.box.width, main.box.height);
    if (facePx < gates.minFacePx) return reject("TOO_SMALL", `face ${Math.round(facePx)} px < ${gates.minFacePx} px`, main);
    if (main.score < gates.minScore) return reject("LOW_SCORE", `detector score ${main.score.toFixed(2)} < ${gates.minScore}`, main);
    const [face] = await engine.analyse(image, [main]);
    const q = face!.quality;
    if (q.blur < gates.minBlur) return reject("BLURRY", `focus measure ${q.blur} < ${gates.minBlur}`, main);
    if (Math.abs(q.yaw) > gates.maxYaw || Math.abs(q.pitch) > gates.maxPitch) {
      return reject("NOT_FRONTAL", `head turned about ${Math.round(q.yaw)}° sideways and ${Math.round(q.pitch)}° up/down (limits ${gates.maxYaw}°, ${gates.maxPitch}°)`, main);
    }
    const ext = image.format === "jpeg" ? "jpg" : image.format;
    return { photo, face: face!, sha256: sha256(photo.content), ext, width: image.width, height: image.height };
  }
}
