import { mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import path from "node:path";

/**
 * Where face image bytes live; face_images.file_path holds the key. The file system today; an
 * S3-style store implements the same three calls.
 */
export interface ImageStore {
  put(key: string, bytes: Uint8Array): Promise<void>;
  get(key: string): Promise<Buffer>;
  /** Missing keys are not an error (deletes are retried after partial failures). */
  delete(key: string): Promise<void>;
}

export function imageKey(organizationId: string, faceId: string, ext: string): string {
  return `${organizationId}/${faceId.slice(0, 2)}/${faceId}.${ext}`;
}

export class FileImageStore implements ImageStore {
  constructor(private readonly root: string) {}

  async put(key: string, bytes: Uint8Array): Promise<void> {
    const file = this.file(key);
    await mkdir(path.dirname(file), { recursive: true });
    // Written aside and renamed, so a crash never leaves half an image under the key.
    const tmp = `${file}.${process.pid}.tmp`;
    await writeFile(tmp, bytes);
    await rename(tmp, file);
  }

  get(key: string): Promise<Buffer> {
    return readFile(this.file(key));
  }

  async delete(key: string): Promise<void> {
    await rm(this.file(key), { force: true });
  }

  private file(key: string): string {
    if (!/^[0-9a-f-]{36}\/[0-9a-f]{2}\/[0-9a-f-]{36}\.(jpg|png|webp)$/.test(key)) throw new Error(`not an image key: ${key}`);
    return path.join(this.root, key);
  }
}
