import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import { chmod, mkdir, readFile, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import type { Logger } from "../../runtime/logger.js";

const VERSION = "v1";

/**
 * AES-256-GCM for secrets at rest (signing keys, OAuth client secrets and tokens). The output is
 * `v1.<iv>.<tag>.<ciphertext>` in base64url; the associated data binds a ciphertext to its use
 * (e.g. the provider id), so one cannot be swapped for another.
 */
export class SecretBox {
  constructor(private readonly key: Buffer) {
    if (key.length !== 32) throw new Error("the encryption key must be 32 bytes");
  }

  seal(plaintext: string, associatedData = ""): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv("aes-256-gcm", this.key, iv);
    cipher.setAAD(Buffer.from(associatedData));
    const ciphertext = Buffer.concat([cipher.update(plaintext, "utf8"), cipher.final()]);
    return [VERSION, iv, cipher.getAuthTag(), ciphertext].map((p) => (typeof p === "string" ? p : p.toString("base64url"))).join(".");
  }

  open(sealed: string, associatedData = ""): string {
    const [version, iv, tag, ciphertext] = sealed.split(".");
    if (version !== VERSION || !iv || !tag || ciphertext === undefined) throw new Error("not a sealed secret");
    const decipher = createDecipheriv("aes-256-gcm", this.key, Buffer.from(iv, "base64url"));
    decipher.setAAD(Buffer.from(associatedData));
    decipher.setAuthTag(Buffer.from(tag, "base64url"));
    return Buffer.concat([decipher.update(Buffer.from(ciphertext, "base64url")), decipher.final()]).toString("utf8");
  }
}

/**
 * The configured key, or for a development install without one, a key file made once in the
 * data directory (a lost key file makes sealed secrets unreadable, so production sets the key).
 */
export async function loadEncryptionKey(configured: string | undefined, keyFile: string, logger: Logger): Promise<Buffer> {
  if (configured) return Buffer.from(configured, "base64");
  try {
    return Buffer.from((await readFile(keyFile, "utf8")).trim(), "base64");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
  const key = randomBytes(32);
  await mkdir(dirname(keyFile), { recursive: true });
  await writeFile(keyFile, key.toString("base64"), { mode: 0o600, flag: "wx" });
  await chmod(keyFile, 0o600);
  logger.warn({ keyFile }, "ROLLCALL_ENCRYPTION_KEY is not set: generated a key file; set the variable in production");
  return key;
}
