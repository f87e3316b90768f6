import type { Database } from "../../../runtime/db/index.js";
import type { FacesRepo } from "../../storage/faces-repo.js";
import { imageKey, type ImageStore } from "../../storage/image-store.js";
import { encodeJpeg, type DecodedImage } from "../pipeline/decode.js";
import { sha256 } from "../pipeline/models.js";
import type { Detection } from "../pipeline/detector.js";
import type { RecognisedFace } from "../recognition.js";
import { nameUuid } from "./event-ids.js";

type Box = Detection["box"];

/** Context kept around a face in its crop, as a fraction of the box. */
const MARGIN = 0.25;

/**
 * Crops of faces nobody could be matched to with confidence, kept for review (face_images,
 * image_type UNKNOWN, no user). The id is derived from the recognition event, so processing the
 * same frame again stores nothing new.
 */
export class UnknownFaces {
  constructor(private readonly db: Database, private readonly repo: FacesRepo, private readonly images: ImageStore) {}

  async save(organizationId: string, eventId: string, face: RecognisedFace, seen: { source: DecodedImage; region: Box }, deviceId: string, capturedAt: Date): Promise<string> {
    const id = nameUuid(`unknown-face/${eventId}`);
    const box = seen.region;
    const crop = await encodeJpeg(await seen.source.full(), {
      x: box.x - box.width * MARGIN,
      y: box.y - box.height * MARGIN,
      width: box.width * (1 + 2 * MARGIN),
      height: box.height * (1 + 2 * MARGIN),
    });
    const key = imageKey(organizationId, id, "jpg");
    await this.images.put(key, crop.data);
    await this.db.withTenant(organizationId, (tx) =>
      this.repo.insertImage(
        tx,
        organizationId,
        { id, userId: null, filePath: key, sha256: sha256(crop.data), width: crop.width, height: crop.height, quality: face.quality, capturedAt, deviceId },
        true,
      ),
    );
    return id;
  }
}
