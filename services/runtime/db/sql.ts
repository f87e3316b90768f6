import { QueryTypes, type Sequelize, type Transaction } from "sequelize";

/**
 * Parameterised SQL inside a helper's transaction ($1, $2 … placeholders). Services write their
 * storage with these three, so every query visibly runs in `tx`, under row-level security.
 */
export class Sql {
  constructor(private readonly sequelize: Sequelize) {}

  /** All rows. */
  rows<T extends object>(tx: Transaction, sql: string, bind: unknown[] = []): Promise<T[]> {
    return this.sequelize.query<T>(sql, { bind, transaction: tx, type: QueryTypes.SELECT });
  }

  /** The first row, or undefined. */
  async row<T extends object>(tx: Transaction, sql: string, bind: unknown[] = []): Promise<T | undefined> {
    return (await this.rows<T>(tx, sql, bind))[0];
  }

  /** A statement without a result; returns the number of rows it touched. */
  async execute(tx: Transaction, sql: string, bind: unknown[] = []): Promise<number> {
    const [, meta] = await this.sequelize.query(sql, { bind, transaction: tx, raw: true });
    // Sequelize answers an INSERT with the count itself and anything else with pg's Result.
    return typeof meta === "number" ? meta : ((meta as { rowCount?: number } | undefined)?.rowCount ?? 0);
  }
}

/** The name of the unique constraint (or index) an insert/update violated, or undefined. */
export function violatedUnique(err: unknown): string | undefined {
  const e = err as { parent?: { code?: string; constraint?: string }; original?: { code?: string; constraint?: string } } | null;
  const pg = e?.parent ?? e?.original;
  return pg?.code === "23505" ? (pg.constraint ?? "") : undefined;
}
