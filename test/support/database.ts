import { randomBytes } from "node:crypto";
import pg from "pg";
import { openDatabase, startEmbeddedPostgres, type Database } from "../../services/runtime/db/index.js";
import { createLogger, type Logger } from "../../services/runtime/logger.js";

export interface TestDatabase {
  db: Database;
  /** URL of the fresh database, for opening more connections to it (e.g. a second "replica"). */
  url: string;
  /** Closes db and removes the database. */
  drop(): Promise<void>;
}

/**
 * A fresh, empty database for one test file. With DATABASE_URL, a new database named
 * rollcall_test_<pid>_<random> on that server (so parallel runs never collide); without it,
 * an in-memory embedded PGlite.
 */
export async function openTestDatabase(
  logger: Logger = createLogger(process.env.LOG_LEVEL ?? "silent"),
): Promise<TestDatabase> {
  const serverUrl = process.env.DATABASE_URL;
  if (!serverUrl) {
    const embedded = await startEmbeddedPostgres();
    const db = await openDatabase({ url: embedded.url, logger }).catch(async (err) => {
      await embedded.stop();
      throw err;
    });
    return {
      db,
      url: embedded.url,
      async drop() {
        await db.close();
        await embedded.stop();
      },
    };
  }

  const name = `rollcall_test_${process.pid}_${randomBytes(4).toString("hex")}`;
  await onServer(serverUrl, `CREATE DATABASE "${name}"`);
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  const drop = () => onServer(serverUrl, `DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  let db: Database;
  try {
    db = await openDatabase({ url: url.href, logger });
  } catch (err) {
    await drop();
    throw err;
  }
  return {
    db,
    url: url.href,
    async drop() {
      await db.close();
      await drop();
    },
  };
}

/** Runs one statement on the server outside any test database (CREATE/DROP DATABASE). */
export async function onServer(serverUrl: string, sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: serverUrl });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}
