import type { Client, QueryResult } from "pg";
import { QueryTypes, type Sequelize, type Transaction } from "sequelize";
import type { Prepared } from "./statement-alone.js";

/**
 * Statements run straight on a pg client, as named (prepared) statements: Postgres parses and
 * plans each distinct text once per connection instead of on every call, and Sequelize's
 * per-query work (option merging, hooks, result building) is skipped. Results and errors keep the
 * shape Sequelize gave them (its type parsers are the client's own; errors go through its
 * formatter, so a unique violation is still a UniqueConstraintError around pg's error).
 */

/**
 * Distinct texts a Database names at most; later ones run unnamed. Each connection keeps every
 * statement it prepared until it closes, so this bounds that memory on the server should some
 * code put values into its SQL text instead of bind parameters.
 */
const MAX_NAMED_TEXTS = 500;

/** Statement numbers by text, per Sequelize whose connections may hold prepared statements. */
const numbersBySequelize = new WeakMap<Sequelize, Map<string, number>>();

/**
 * Lets statements on this Sequelize's connections be prepared, unless the server is PGlite
 * (embedded mode, whichever process started it): all its connections share one backend, where a
 * name one connection prepared already exists for the next (42P05), so there statements stay
 * unnamed, as before.
 */
export async function prepareStatementsOn(sequelize: Sequelize): Promise<void> {
  const [row] = await sequelize.query<{ version: string }>("SELECT version() AS version", { type: QueryTypes.SELECT, logging: false });
  if (!row?.version.includes("PGlite")) numbersBySequelize.set(sequelize, new Map());
}

/**
 * A statement with checked values and, where statements are prepared, its name. Statements run
 * alone (statement-alone.ts) keep names of their own: pg's bookkeeping of what a connection has
 * prepared is shared, and theirs must not be mistaken for the ones pg prepares itself.
 */
export function prepared(sequelize: Sequelize, text: string, bind: unknown[], use: "transaction" | "alone"): Prepared {
  const values = bind.map(checkedValue);
  const numbers = numbersBySequelize.get(sequelize);
  let n = numbers?.get(text);
  if (numbers && n === undefined && numbers.size < MAX_NAMED_TEXTS) numbers.set(text, (n = numbers.size + 1));
  return { text, values, name: n === undefined ? undefined : `rollcall_${n}${use === "alone" ? "_alone" : ""}` };
}

/** A statement of Sql inside tx. Without bind values it is sent as a simple query, which may hold several statements. */
export async function runStatement(sequelize: Sequelize, tx: Transaction, text: string, bind: unknown[]): Promise<{ rows: object[]; rowCount: number }> {
  const { connection, finished, id } = tx as unknown as TransactionInternals;
  if (finished) throw new Error(`${finished} has been called on transaction ${id}: a statement can no longer run in it`);
  const result = await observed(sequelize, connection, text, () => {
    if (bind.length === 0) return connection.query(text) as Promise<QueryResult | QueryResult[]>;
    const { name, values } = prepared(sequelize, text, bind, "transaction");
    return connection.query(name === undefined ? { text, values } : { name, text, values });
  });
  if (!Array.isArray(result)) return { rows: result.rows, rowCount: result.rowCount ?? 0 };
  // A simple query of several statements answers with one result each.
  return { rows: result.flatMap((r) => r.rows ?? []), rowCount: result.reduce((n, r) => n + (r.rowCount ?? 0), 0) };
}

/** Runs a statement on connection as Sequelize would: logged when its logging is on, errors in its shape. */
export async function observed<R>(sequelize: Sequelize, connection: Client, text: string, run: () => Promise<R>): Promise<R> {
  const { logging } = (sequelize as unknown as { options: { logging?: false | ((sql: string, ms: number) => void) } }).options;
  const started = typeof logging === "function" ? performance.now() : 0;
  // The caller's stack (pg's own error would point into its socket reader), formatted only on failure.
  const caller = new Error();
  let result: R;
  try {
    result = await run();
  } catch (err) {
    throw sequelizeError(sequelize, connection, err, text, caller.stack);
  }
  if (typeof logging === "function") logging(text, performance.now() - started);
  return result;
}

/** As Sequelize did with bind values: undefined is a mistake (NULL is null), and NUL characters become `\0`. */
function checkedValue(value: unknown, index: number): unknown {
  if (value === undefined) throw new Error(`bind parameter $${index + 1} is undefined: pass null for NULL`);
  return typeof value === "string" && value.includes("\0") ? value.replace(/\0/g, "\\0") : value;
}

/** The error Sequelize would have thrown for this statement (its parameters are left out: they may be secrets). */
function sequelizeError(sequelize: Sequelize, connection: Client, err: unknown, sql: string, stack: string | undefined): unknown {
  if (!(err instanceof Error)) return err;
  // As Sequelize does: the pool then discards the connection instead of handing it out again.
  // Also when a migration changed the columns a prepared statement returns (a rolling deploy):
  // Postgres refuses that statement on this connection until it closes.
  const code = (err as { code?: string }).code;
  if (code === "ECONNRESET" || (code === "0A000" && /cached plan must not change result type/.test(err.message))) Object.assign(connection, { _invalid: true });
  Object.assign(err, { sql });
  const { Query } = (sequelize as unknown as { dialect: { Query: SequelizeQueryClass } }).dialect;
  return new Query(connection, sequelize, { logging: false }).formatError(err, stack);
}

interface TransactionInternals {
  /** The pg client the transaction holds (a savepoint shares its parent's). */
  connection: Client;
  finished?: string;
  id: string;
}

type SequelizeQueryClass = new (connection: Client, sequelize: Sequelize, options: object) => { formatError(err: Error, stack?: string): unknown };
