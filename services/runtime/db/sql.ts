import type { Sequelize, Transaction } from "sequelize";
import { runStatement } from "./statements.js";

/**
 * Parameterised SQL inside a helper's transaction ($1, $2 … placeholders). Services write their
 * storage with these three, so every query visibly runs in `tx`, under row-level security.
 * Statements with bind values are prepared once per connection (statements.ts).
 */
export class Sql {
  constructor(private readonly sequelize: Sequelize) {}

  /** All rows. */
  async rows<T extends object>(tx: Transaction, sql: string, bind: unknown[] = []): Promise<T[]> {
    return (await runStatement(this.sequelize, tx, sql, bind)).rows as T[];
  }

  /** The first row, or undefined. */
  async row<T extends object>(tx: Transaction, sql: string, bind: unknown[] = []): Promise<T | undefined> {
    return (await this.rows<T>(tx, sql, bind))[0];
  }

  /** A statement without a result; returns the number of rows it touched. */
  async execute(tx: Transaction, sql: string, bind: unknown[] = []): Promise<number> {
    return (await runStatement(this.sequelize, tx, sql, bind)).rowCount;
  }
}

/** The name of the unique constraint (or index) an insert/update violated, or undefined. */
export function violatedUnique(err: unknown): string | undefined {
  const e = err as { parent?: { code?: string; constraint?: string }; original?: { code?: string; constraint?: string } } | null;
  const pg = e?.parent ?? e?.original;
  return pg?.code === "23505" ? (pg.constraint ?? "") : undefined;
}
