import { createHash } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { usageError } from "./exit-codes.js";

const IMAGE = /\.(jpe?g|png|webp)$/i;

export interface PhotoFile {
  path: string;
  name: string;
}

export interface LoadedPhoto extends PhotoFile {
  content: Buffer;
  sha256: string;
}

/** people/<username>/<photo>: one folder per person, named by username; hidden entries skipped. */
export async function scanPeople(dir: string): Promise<{ username: string; photos: PhotoFile[] }[]> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOTDIR") throw usageError(`--dir: ${dir} is not a directory`);
    throw err;
  }
  const people = [];
  for (const entry of entries.filter((e) => e.isDirectory() && !e.name.startsWith(".")).sort((a, b) => a.name.localeCompare(b.name))) {
    const folder = path.join(dir, entry.name);
    const files = (await readdir(folder, { withFileTypes: true }))
      .filter((f) => f.isFile() && !f.name.startsWith(".") && IMAGE.test(f.name))
      .map((f) => f.name)
      .sort();
    people.push({ username: entry.name, photos: files.map((name) => ({ path: path.join(folder, name), name })) });
  }
  if (people.length === 0) throw usageError(`--dir: ${dir} has no sub-folders; expected one folder per person, named by username`);
  return people;
}

export async function loadPhoto(file: PhotoFile): Promise<LoadedPhoto> {
  const content = await readFile(file.path);
  return { ...file, content, sha256: createHash("sha256").update(content).digest("hex") };
}

/** Batches for one Enrol call: at most `count` photos and `bytes` bytes (a single larger photo goes alone). */
export function batches<T extends { content: Buffer }>(items: T[], count: number, bytes: number): T[][] {
  const out: T[][] = [];
  let current: T[] = [];
  let size = 0;
  for (const item of items) {
    if (current.length > 0 && (current.length === count || size + item.content.length > bytes)) {
      out.push(current);
      current = [];
      size = 0;
    }
    current.push(item);
    size += item.content.length;
  }
  if (current.length > 0) out.push(current);
  return out;
}
