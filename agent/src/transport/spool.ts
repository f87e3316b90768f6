import { mkdir, open, readdir, readFile, rename, rm, stat } from "node:fs/promises";
import path from "node:path";

/** A message waiting to be published: where to, its JetStream id, and the bytes. */
export interface OutgoingMessage {
  subject: string;
  msgId: string;
  data: Uint8Array;
}

interface Entry {
  name: string;
  bytes: number;
  createdMs: number;
}

const SUFFIX = ".msg";
const NAME_DIGITS = 16;

/**
 * A bounded first-in first-out directory of messages, one file each, named by a counter so the
 * order survives restarts. A file is written under a temporary name and renamed, so a crash
 * leaves either the whole message or nothing. Beyond the size cap the oldest are deleted and
 * counted. Not safe for two processes on one directory.
 */
export class Spool {
  private entries: Entry[] = [];
  private totalBytes = 0;
  private next = 1;
  /** Messages lost since the spool was opened: deleted to stay under the cap (here), or not writable or readable (the outbox counts those). */
  dropped = 0;

  private constructor(readonly dir: string, readonly maxBytes: number) {}

  static async open(dir: string, maxBytes: number): Promise<Spool> {
    const spool = new Spool(dir, maxBytes);
    await mkdir(dir, { recursive: true });
    for (const name of (await readdir(dir)).sort()) {
      const file = path.join(dir, name);
      if (name.endsWith(".tmp")) {
        await rm(file, { force: true });
        continue;
      }
      if (!name.endsWith(SUFFIX)) continue;
      const info = await stat(file);
      spool.entries.push({ name, bytes: info.size, createdMs: info.mtimeMs });
      spool.totalBytes += info.size;
      spool.next = Math.max(spool.next, Number.parseInt(name, 10) + 1);
    }
    return spool;
  }

  get size(): number {
    return this.entries.length;
  }

  get bytes(): number {
    return this.totalBytes;
  }

  /** Age of the oldest message in milliseconds (0 when empty). */
  oldestAgeMs(now = Date.now()): number {
    return this.entries.length === 0 ? 0 : Math.max(0, now - this.entries[0]!.createdMs);
  }

  /** Appends durably (fsync), then drops the oldest messages while over the cap. */
  async append(message: OutgoingMessage): Promise<void> {
    const encoded = encode(message);
    const name = `${String(this.next++).padStart(NAME_DIGITS, "0")}${SUFFIX}`;
    const file = path.join(this.dir, name);
    const handle = await open(`${file}.tmp`, "w");
    try {
      await handle.writeFile(encoded);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(`${file}.tmp`, file);
    this.entries.push({ name, bytes: encoded.length, createdMs: Date.now() });
    this.totalBytes += encoded.length;
    while (this.totalBytes > this.maxBytes && this.entries.length > 0) {
      await this.removeHead();
      this.dropped++;
    }
  }

  /** The oldest message and its id, without removing it; throws if its file is unreadable. */
  async peek(): Promise<{ id: string; message: OutgoingMessage } | undefined> {
    const head = this.entries[0];
    if (!head) return undefined;
    return { id: head.name, message: decode(await readFile(path.join(this.dir, head.name)), head.name) };
  }

  /**
   * Removes a message once published (or unreadable). By id: the cap may have dropped it
   * meanwhile, and then nothing else must go in its place.
   */
  async remove(id: string): Promise<void> {
    const index = this.entries.findIndex((e) => e.name === id);
    if (index < 0) return;
    const [entry] = this.entries.splice(index, 1);
    this.totalBytes -= entry!.bytes;
    await rm(path.join(this.dir, entry!.name), { force: true });
  }

  /** Removes the oldest message whatever it is (an unreadable file). */
  async removeOldest(): Promise<void> {
    if (this.entries.length > 0) await this.removeHead();
  }

  private async removeHead(): Promise<void> {
    const head = this.entries.shift()!;
    this.totalBytes -= head.bytes;
    await rm(path.join(this.dir, head.name), { force: true });
  }
}

/** subject "\n" msgId "\n" payload: both header lines are NATS tokens and ids, never newlines. */
function encode(message: OutgoingMessage): Buffer {
  if (/\n/.test(message.subject) || /\n/.test(message.msgId)) throw new Error("subject and msgId cannot contain newlines");
  return Buffer.concat([Buffer.from(`${message.subject}\n${message.msgId}\n`), message.data]);
}

function decode(bytes: Buffer, name: string): OutgoingMessage {
  const first = bytes.indexOf(10);
  const second = first < 0 ? -1 : bytes.indexOf(10, first + 1);
  if (second < 0) throw new Error(`spool file ${name} is malformed`);
  return {
    subject: bytes.subarray(0, first).toString(),
    msgId: bytes.subarray(first + 1, second).toString(),
    data: new Uint8Array(bytes.subarray(second + 1)),
  };
}
