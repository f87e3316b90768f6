import { AsyncLocalStorage } from "node:async_hooks";
import type { Client } from "pg";
import { QueryTypes, Sequelize, type Transaction } from "sequelize";
import { AppError, invalidArgument, unavailable } from "../errors.js";
import type { Logger } from "../logger.js";
import { startEmbeddedPostgres, type EmbeddedPostgres } from "./embedded.js";
import { runMigrations, type Migration } from "./migrate.js";
import { HelperTransaction } from "./helper-transaction.js";
import { ORG_SETTING, SYSTEM_ROLE, TENANT_ROLE, ensureRuntimeRoles } from "./rls.js";
import { runAlone } from "./statement-alone.js";
import { observed, prepareStatementsOn, prepared } from "./statements.js";

export interface OpenDatabaseOptions {
  /** postgres:// URL. Without it, an embedded PGlite is started for this Database alone. */
  url?: string;
  /** Data directory of the embedded PGlite (ignored with `url`); in memory when undefined. */
  pgliteDataDir?: string;
  logger: Logger;
  /** Connections in the pool (default 10). */
  poolMax?: number;
  /** Shown in pg_stat_activity. */
  applicationName?: string;
}

/**
 * The one way services reach Postgres.
 *
 * Transactions are passed explicitly, not through CLS: every query inside `withTenant`/`withSystem`
 * must carry `{ transaction: tx }`. A query without it would run on another pooled connection,
 * outside the tenant's role and so outside row-level security, and in embedded mode it would wait
 * for the open transaction to end: a deadlock. Both mistakes, and nesting the helpers (same
 * deadlock), are therefore refused with an error.
 */
export interface Database {
  readonly sequelize: Sequelize;
  /**
   * Runs fn in a transaction that sees and writes only this organisation's rows of tenant tables.
   * Throws INVALID_ARGUMENT when organizationId is not a UUID.
   */
  withTenant<T>(organizationId: string, fn: (tx: Transaction) => Promise<T>): Promise<T>;
  /** Runs fn in a transaction that sees every tenant's rows: for cross-tenant jobs only. */
  withSystem<T>(fn: (tx: Transaction) => Promise<T>): Promise<T>;
  /**
   * One statement as a transaction of its own, seeing what withTenant would: sent with the
   * transaction's settings in a single round trip, where withTenant takes three (open, statement,
   * commit). For hot paths whose whole transaction is one statement. Answers its rows.
   */
  tenantStatement<T extends object>(organizationId: string, sql: string, bind?: unknown[]): Promise<T[]>;
  /** As tenantStatement, seeing what withSystem would. */
  systemStatement<T extends object>(sql: string, bind?: unknown[]): Promise<T[]>;
  /** Applies the schema's pending migrations; returns the names applied by this call. */
  migrate(schema: string, migrations: readonly Migration[]): Promise<string[]>;
  /** Resolves when the database answers `SELECT 1` in time; otherwise throws UNAVAILABLE. */
  ping(timeoutMs?: number): Promise<void>;
  /** Closes the pool, then the embedded server if this Database started one. */
  close(): Promise<void>;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A statement run alone sets the role and organisation with parameters: it is prepared once per connection. */
const SETTINGS = `SELECT set_config('role', $1, true), set_config('${ORG_SETTING}', $2, true)`;

function invalidOrganization(organizationId: string): AppError | undefined {
  if (typeof organizationId === "string" && UUID.test(organizationId)) return undefined;
  return invalidArgument("organization_id", `must be a UUID, got ${JSON.stringify(String(organizationId).slice(0, 64))}`);
}

export async function openDatabase(opts: OpenDatabaseOptions): Promise<Database> {
  const log = opts.logger.child({ component: "db" });
  let embedded: EmbeddedPostgres | undefined;
  let url = opts.url;
  if (!url) {
    const started = performance.now();
    embedded = await startEmbeddedPostgres(opts.pgliteDataDir);
    url = embedded.url;
    log.info(
      { dataDir: embedded.dataDir ?? "(memory)", url, ms: Math.round(performance.now() - started) },
      "embedded Postgres ready",
    );
  }

  const sequelize = new Sequelize(url, {
    dialect: "postgres",
    logging: log.isLevelEnabled("debug") ? (sql: string, ms?: number) => log.debug({ sql, ms }, "sql") : false,
    benchmark: log.isLevelEnabled("debug"),
    pool: { max: opts.poolMax ?? 10, min: 0, idle: 10_000, acquire: 30_000 },
    dialectOptions: opts.applicationName ? { application_name: opts.applicationName } : {},
  });

  try {
    await sequelize.authenticate({ logging: false });
    await ensureRuntimeRoles(sequelize);
    await prepareStatementsOn(sequelize);
  } catch (err) {
    await sequelize.close().catch(() => {});
    await embedded?.stop();
    throw new Error(`could not open the database at ${describe(url)}: ${(err as Error).message}`, { cause: err });
  }
  log.info({ at: describe(url) }, "database connected");

  // Only detects mistakes (see Database); the transaction itself is still passed by hand. Inside a
  // helper, anything that asks the pool for a connection of its own is one: a query without the
  // helper's transaction, or a separate transaction. Checked before a connection is taken, because
  // in embedded mode even opening a new connection waits behind the open transaction.
  const helperScope = new AsyncLocalStorage<HelperScope>();
  const pool = (sequelize as unknown as { connectionManager: ConnectionSource }).connectionManager;
  const getConnection = pool.getConnection.bind(pool);
  pool.getConnection = (options) => {
    const scope = helperScope.getStore();
    // Once tx is finished (e.g. in its afterCommit hooks), queries of their own are fine again.
    if (scope?.open && scope.tx && !(scope.tx as { finished?: string }).finished) {
      return Promise.reject(
        new Error(
          `a query inside ${scope.helper}() did not run in its transaction: pass { transaction: tx } ` +
            `(outside it the query would bypass row-level security, and in embedded mode hang)`,
        ),
      );
    }
    return getConnection(options);
  };

  const refuseNesting = (helper: string) => {
    const outer = helperScope.getStore();
    if (outer?.open) {
      throw new Error(
        `${helper}() was called inside ${outer.helper}(): finish the outer transaction first ` +
          `(a second transaction would wait for the first one forever in embedded mode)`,
      );
    }
  };

  const inTransaction = async <T>(
    helper: string,
    role: string,
    organizationId: string,
    fn: (tx: Transaction) => Promise<T>,
  ): Promise<T> => {
    refuseNesting(helper);
    const scope: HelperScope = { helper, open: true };
    try {
      return await helperScope.run(scope, async () => {
        const tx = new HelperTransaction(sequelize, role, organizationId);
        await tx.start();
        scope.tx = tx; // from here on, the helper's own connection is taken
        let result: T;
        try {
          result = await fn(tx);
        } catch (err) {
          await tx.rollback().catch(() => {});
          throw err;
        }
        await tx.commit();
        return result;
      });
    } finally {
      // Work fn left running in the background may query on its own once the transaction is over.
      scope.open = false;
    }
  };

  const alone = async <T>(helper: string, role: string, organizationId: string, text: string, bind: unknown[]): Promise<T[]> => {
    refuseNesting(helper);
    const client = (await getConnection({})) as Client;
    try {
      const settings = prepared(sequelize, SETTINGS, [role, organizationId], "alone");
      const statement = prepared(sequelize, text, bind, "alone");
      return (await observed(sequelize, client, text, () => runAlone(client, settings, statement))).rows as T[];
    } finally {
      pool.releaseConnection(client);
    }
  };

  let closing: Promise<void> | undefined;

  return {
    sequelize,

    withTenant(organizationId, fn) {
      const invalid = invalidOrganization(organizationId);
      return invalid ? Promise.reject(invalid) : inTransaction("withTenant", TENANT_ROLE, organizationId, fn);
    },

    withSystem(fn) {
      return inTransaction("withSystem", SYSTEM_ROLE, "", fn);
    },

    tenantStatement(organizationId, sql, bind = []) {
      const invalid = invalidOrganization(organizationId);
      return invalid ? Promise.reject(invalid) : alone("tenantStatement", TENANT_ROLE, organizationId, sql, bind);
    },

    systemStatement(sql, bind = []) {
      return alone("systemStatement", SYSTEM_ROLE, "", sql, bind);
    },

    migrate(schema, migrations) {
      return runMigrations(sequelize, log, schema, migrations);
    },

    async ping(timeoutMs = 2000) {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(unavailable(`database did not answer within ${timeoutMs} ms`)), timeoutMs);
      });
      try {
        await Promise.race([sequelize.query("SELECT 1", { type: QueryTypes.SELECT, logging: false }), timeout]);
      } catch (err) {
        if (err instanceof AppError) throw err;
        throw unavailable(`database is unreachable: ${(err as Error).message}`);
      } finally {
        clearTimeout(timer);
      }
    },

    close() {
      closing ??= (async () => {
        await sequelize.close();
        await embedded?.stop();
      })();
      return closing;
    },
  };
}

interface HelperScope {
  helper: string;
  open: boolean;
  tx?: Transaction;
}

interface ConnectionSource {
  getConnection(options: unknown): Promise<unknown>;
  releaseConnection(connection: unknown): void;
}

/** host:port/database, for messages: never the password. */
function describe(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname}:${u.port || 5432}${u.pathname}`;
  } catch {
    return "(unparseable database URL)";
  }
}
