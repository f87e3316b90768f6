import { QueryTypes, Transaction, type Sequelize } from "sequelize";
import { MigrationError, Umzug, type UmzugStorage } from "umzug";
import type { Logger } from "../logger.js";
import { assertIdentifier } from "./identifiers.js";
import { SYSTEM_ROLE, TENANT_ROLE } from "./rls.js";

export interface MigrationContext {
  sequelize: Sequelize;
  /** The migration's own transaction: pass it to every query (`{ transaction }`). */
  transaction: Transaction;
  /** The schema being migrated, e.g. "identity". */
  schema: string;
  /** Runs SQL (several statements allowed when there are no bind values) in the migration's transaction. */
  sql(text: string, bind?: unknown[]): Promise<void>;
}

export interface Migration {
  /** Unique within the schema and never renamed: it is the key in `<schema>.schema_migrations`. */
  name: string;
  up(ctx: MigrationContext): Promise<void>;
  /** Documentation for manual repair only: migrate() rolls forward and never calls it. */
  down?(ctx: MigrationContext): Promise<void>;
}

/**
 * Applies the pending migrations of one schema, in list order, and returns the names it applied.
 *
 * Each migration runs in its own transaction that also writes its schema_migrations row, so a
 * failure leaves neither half a migration nor a record of it. Replicas starting together are kept
 * apart by an advisory lock on the schema taken inside each of those transactions, after which the
 * migration is looked up again and skipped if another replica got there first. A lock held across
 * the whole run on one connection would not do: PGlite has a single session shared by all
 * connections, so there a session lock excludes nobody, while its transactions are serialised anyway.
 */
export async function runMigrations(
  sequelize: Sequelize,
  logger: Logger,
  schema: string,
  migrations: readonly Migration[],
): Promise<string[]> {
  assertIdentifier(schema, "schema");
  assertUniqueNames(schema, migrations);
  const log = logger.child({ schema });
  const table = `"${schema}".schema_migrations`;

  const inLockedTransaction = <T>(fn: (tx: Transaction) => Promise<T>) =>
    // READ COMMITTED so that the look-up after the lock sees what the lock holder committed.
    sequelize.transaction({ isolationLevel: Transaction.ISOLATION_LEVELS.READ_COMMITTED }, async (tx) => {
      await sequelize.query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", {
        bind: [`rollcall.migrate.${schema}`],
        transaction: tx,
      });
      return fn(tx);
    });

  // Concurrent CREATE ... IF NOT EXISTS can still collide on the catalog's unique index: lock first.
  await inLockedTransaction((tx) =>
    sequelize.query(
      `CREATE SCHEMA IF NOT EXISTS "${schema}";
       GRANT USAGE ON SCHEMA "${schema}" TO ${TENANT_ROLE}, ${SYSTEM_ROLE};
       CREATE TABLE IF NOT EXISTS ${table} (
         name text PRIMARY KEY,
         applied_at timestamptz NOT NULL DEFAULT now()
       )`,
      { transaction: tx },
    ),
  );

  const appliedNames = async (tx?: Transaction): Promise<string[]> => {
    const rows = await sequelize.query<{ name: string }>(`SELECT name FROM ${table} ORDER BY applied_at, name`, {
      type: QueryTypes.SELECT,
      transaction: tx ?? null,
    });
    return rows.map((r) => r.name);
  };

  const known = new Set(migrations.map((m) => m.name));
  const unknown = (await appliedNames()).filter((name) => !known.has(name));
  if (unknown.length > 0) {
    log.warn({ unknown }, "schema has migrations this build does not know (is an older build running?)");
  }

  const applied: string[] = [];
  const apply = async (migration: Migration) => {
    const started = performance.now();
    const ran = await inLockedTransaction(async (tx) => {
      const [row] = await sequelize.query(`SELECT 1 FROM ${table} WHERE name = $1`, {
        bind: [migration.name],
        type: QueryTypes.SELECT,
        transaction: tx,
      });
      if (row) return false;
      await migration.up(migrationContext(sequelize, tx, schema));
      await sequelize.query(`INSERT INTO ${table} (name) VALUES ($1)`, { bind: [migration.name], transaction: tx });
      return true;
    });
    if (ran) {
      applied.push(migration.name);
      log.info({ migration: migration.name, ms: Math.round(performance.now() - started) }, "applied migration");
    } else {
      log.info({ migration: migration.name }, "migration was applied meanwhile by another instance");
    }
  };

  // The row is written inside the migration's transaction (see apply), so umzug's own
  // bookkeeping calls have nothing left to do.
  const storage: UmzugStorage = {
    executed: () => appliedNames(),
    logMigration: async () => {},
    unlogMigration: async () => {},
  };
  const umzug = new Umzug({
    migrations: migrations.map((m) => ({ name: m.name, up: () => apply(m) })),
    storage,
    logger: undefined,
  });

  try {
    await umzug.up();
  } catch (err) {
    const cause = err instanceof MigrationError ? err.cause : err;
    const name = err instanceof MigrationError ? err.migration.name : "?";
    throw new Error(
      `migration "${name}" of schema "${schema}" failed and was rolled back ` +
        `(earlier migrations stay applied): ${(cause as Error)?.message ?? String(cause)}`,
      { cause },
    );
  }
  if (applied.length === 0) log.debug("schema is up to date");
  return applied;
}

function migrationContext(sequelize: Sequelize, transaction: Transaction, schema: string): MigrationContext {
  return {
    sequelize,
    transaction,
    schema,
    async sql(text, bind) {
      await sequelize.query(text, { transaction, ...(bind ? { bind } : {}) });
    },
  };
}

function assertUniqueNames(schema: string, migrations: readonly Migration[]): void {
  const seen = new Set<string>();
  for (const { name } of migrations) {
    if (!name) throw new Error(`a migration of schema "${schema}" has an empty name`);
    if (seen.has(name)) throw new Error(`migration name "${name}" appears twice in schema "${schema}"`);
    seen.add(name);
  }
}
