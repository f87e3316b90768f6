import { chmod, mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import path from "node:path";
import { usageError } from "./exit-codes.js";

/** What `rollcall login` remembers between commands. Holds tokens: written 0600. */
export interface SavedSession {
  addr: string;
  organization: string;
  login: string;
  accessToken: string;
  /** ISO 8601. */
  accessExpiresAt: string;
  refreshToken: string;
  refreshExpiresAt: string;
}

/** $ROLLCALL_CONFIG, else $XDG_CONFIG_HOME/rollcall/config.json, else ~/.config/rollcall/config.json. */
export function configPath(env: NodeJS.ProcessEnv = process.env): string {
  if (env.ROLLCALL_CONFIG) return path.resolve(env.ROLLCALL_CONFIG);
  const base = env.XDG_CONFIG_HOME || path.join(homedir(), ".config");
  return path.join(base, "rollcall", "config.json");
}

export async function readSession(file: string): Promise<SavedSession | undefined> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
  try {
    const parsed = JSON.parse(text) as Partial<SavedSession>;
    if (typeof parsed.accessToken !== "string" || typeof parsed.addr !== "string") throw new Error("missing fields");
    return parsed as SavedSession;
  } catch {
    throw usageError(`${file} is not a rollcall session file; delete it and run \`rollcall login\` again`);
  }
}

/** Written to a temporary file then renamed, so a crash never leaves half a session behind. */
export async function writeSession(file: string, session: SavedSession): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  const temporary = `${file}.${process.pid}.tmp`;
  await writeFile(temporary, JSON.stringify(session, null, 2) + "\n", { mode: 0o600 });
  await chmod(temporary, 0o600);
  await rename(temporary, file);
}

export async function deleteSession(file: string): Promise<void> {
  await rm(file, { force: true });
}
