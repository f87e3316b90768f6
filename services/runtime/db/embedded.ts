import path from "node:path";
import { PGlite } from "@electric-sql/pglite";
import { PGLiteSocketServer } from "@electric-sql/pglite-socket";

/**
 * Embedded mode: PGlite (Postgres compiled to WASM, in this process) served over TCP by
 * pglite-socket, so services talk to it through pg and Sequelize exactly as they talk to a real
 * server. One PGlite is one Postgres backend: every connection shares its session and its
 * transactions run one after another (see holdBackendUntilSync).
 */
export interface EmbeddedPostgres {
  /** `postgres://` URL of the socket server: pass it to `openDatabase({ url })` in every service. */
  readonly url: string;
  /** Where the data lives; undefined for an in-memory cluster that vanishes on stop(). */
  readonly dataDir: string | undefined;
  stop(): Promise<void>;
}

interface Running {
  url: string;
  shutdown(): Promise<void>;
}

/** Persistent clusters already open in this process, by absolute data directory. */
const openDataDirs = new Map<string, { running: Promise<Running>; users: number }>();

/**
 * Starts an embedded Postgres on 127.0.0.1 (free port). Start it once per process and share the URL.
 * Each in-memory start is a fresh, empty cluster. A data directory can only be opened by one PGlite,
 * so starting the same directory again in this process shares the running server; it stops when
 * the last user calls stop(). Never point two processes at one directory.
 */
export async function startEmbeddedPostgres(dataDir?: string): Promise<EmbeddedPostgres> {
  if (dataDir === undefined) {
    const running = await serve(await createInMemoryCluster());
    return { url: running.url, dataDir: undefined, stop: once(running.shutdown) };
  }

  const dir = path.resolve(dataDir);
  let entry = openDataDirs.get(dir);
  if (!entry) {
    const running = PGlite.create({ dataDir: dir }).then(serve);
    entry = { running, users: 0 };
    openDataDirs.set(dir, entry);
    running.catch(() => openDataDirs.delete(dir));
  }
  entry.users += 1;
  const shared = entry;
  let running: Running;
  try {
    running = await shared.running;
  } catch (err) {
    throw new Error(`could not start embedded Postgres in ${dir}: ${(err as Error).message}`, { cause: err });
  }
  return {
    url: running.url,
    dataDir: dir,
    stop: once(async () => {
      shared.users -= 1;
      if (shared.users > 0) return;
      openDataDirs.delete(dir);
      await running.shutdown();
    }),
  };
}

async function serve(db: PGlite): Promise<Running> {
  const server = new PGLiteSocketServer({
    db: holdBackendUntilSync(db),
    host: "127.0.0.1",
    port: 0,
    // Every service in the process keeps its own pool against this one server.
    maxConnections: 256,
  });
  try {
    await server.start();
  } catch (err) {
    await db.close();
    throw err;
  }
  const port = server.getServerConn().split(":").pop();
  return {
    // pglite-socket ignores user and database: every connection is the superuser in `postgres`.
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    async shutdown() {
      await server.stop();
      await db.close();
    },
  };
}

/**
 * initdb dominates PGlite start-up (measured ~1.5–3.5 s, vs ~0.5 s to load a 40 MB dump of a fresh
 * cluster), so the first in-memory cluster of the process is dumped before use and later ones,
 * mostly test databases, start from that dump.
 */
let freshClusterDump: Promise<Blob> | undefined;

async function createInMemoryCluster(): Promise<PGlite> {
  if (freshClusterDump) {
    return PGlite.create({ loadDataDir: await freshClusterDump });
  }
  const db = PGlite.create();
  const dump = db.then((d) => d.dumpDataDir("none"));
  freshClusterDump = dump;
  dump.catch(() => {
    if (freshClusterDump === dump) freshClusterDump = undefined;
  });
  await dump;
  return db;
}

const SYNC = "S".charCodeAt(0);
/** Parse, Bind, Describe, Execute, Close, Flush: the messages of an extended query before its Sync. */
const EXTENDED_QUERY = new Set([..."PBDECH"].map((c) => c.charCodeAt(0)));

/**
 * pglite-socket runs each connection's protocol messages on the single backend one at a time and
 * keeps other connections out only while a transaction block is open. An extended query (what pg
 * sends for every query with bind parameters) is not a transaction block, so when its bytes arrive
 * in more than one TCP read, another connection's query can run in between and replace the
 * backend's unnamed statement (reproduced: a query failed with the other query's parameter types).
 * Reporting "in a transaction" until the Sync keeps the queue on the same connection.
 * COPY FROM STDIN would need the same treatment; nothing here uses it.
 */
function holdBackendUntilSync(db: PGlite): PGlite {
  let inExtendedQuery = false;
  return new Proxy(db, {
    get(target, prop) {
      switch (prop) {
        case "isInTransaction":
          return () => inExtendedQuery || target.isInTransaction();
        case "execProtocolRawStream":
          return (message: Uint8Array, options: Parameters<PGlite["execProtocolRawStream"]>[1]) => {
            const type = message[0]!;
            if (type === SYNC) inExtendedQuery = false;
            else if (EXTENDED_QUERY.has(type)) inExtendedQuery = true;
            return target.execProtocolRawStream(message, options);
          };
        case "exec":
          // pglite-socket runs exec("ROLLBACK") for a connection that dropped mid-transaction,
          // which also ends whatever extended query it left behind.
          return (...args: Parameters<PGlite["exec"]>) => {
            inExtendedQuery = false;
            return target.exec(...args);
          };
        default: {
          // PGlite keeps its state in #private fields, so methods must run against the real object.
          const value: unknown = Reflect.get(target, prop, target);
          return typeof value === "function" ? value.bind(target) : value;
        }
      }
    },
  });
}

function once(fn: () => Promise<void>): () => Promise<void> {
  let done: Promise<void> | undefined;
  return () => (done ??= fn());
}
