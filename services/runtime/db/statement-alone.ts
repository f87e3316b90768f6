import pg from "pg";
import type { Client } from "pg";

/** A statement and its values; unnamed, or prepared once per connection under `name`. */
export interface Prepared {
  text: string;
  values: unknown[];
  name: string | undefined;
}

interface Wire {
  parse(m: { name?: string; text: string }): void;
  bind(m: { statement?: string; values: unknown[] }): void;
  describe(m: { type: "P"; name: string }): void;
  execute(m: object): void;
  close(m: { type: "S"; name: string }): void;
  sync(): void;
  sendCopyFail(message: string): void;
  stream: { cork?(): void; uncork?(): void };
  parsedStatements: Record<string, string>;
}

interface ResultBuilder {
  rows: object[];
  rowCount: number | null;
  addFields(fields: unknown[]): void;
  parseRow(fields: unknown[]): object;
  addRow(row: object): void;
  addCommandComplete(message: unknown): void;
}

const { Result, utils } = pg as unknown as {
  Result: new (rowMode: undefined, types: unknown) => ResultBuilder;
  utils: { prepareValue(value: unknown): unknown };
};

/**
 * Runs the transaction settings and one statement in a single round trip: both go out as one
 * extended-protocol pipeline ending in one Sync, so Postgres runs them in one implicit
 * transaction (the transaction-local settings apply to the statement, and end with it) and
 * commits at the Sync; an error in either rolls both back. A pg "submittable": pg hands it the
 * connection and the backend's answers until ReadyForQuery. Answers the statement's rows.
 */
export function runAlone(client: Client, settings: Prepared, statement: Prepared): Promise<{ rows: object[]; rowCount: number }> {
  return new Promise((resolve, reject) => {
    // The client parses values with its own type parsers (Sequelize's), as its queries do.
    const result = new Result(undefined, client);
    client.query(new StatementAlone(settings, statement, result, resolve, reject) as unknown as pg.QueryConfig);
  });
}

class StatementAlone {
  /** Answers of the settings come first (no row description was asked for), then the statement's. */
  private answering: "settings" | "statement" = "settings";
  private rowError: Error | undefined;
  /** Names parsed by this pipeline: they count as prepared once it has succeeded. */
  private readonly parsedHere: Prepared[] = [];

  constructor(
    private readonly settings: Prepared,
    private readonly statement: Prepared,
    private readonly result: ResultBuilder,
    private readonly resolve: (r: { rows: object[]; rowCount: number }) => void,
    private readonly reject: (err: Error) => void,
  ) {}

  submit(connection: Wire): Error | null {
    let values: unknown[][];
    try {
      // Before anything is written: a value pg cannot send must not leave half a pipeline behind.
      values = [this.settings.values.map(utils.prepareValue), this.statement.values.map(utils.prepareValue)];
    } catch (err) {
      return err as Error;
    }
    connection.stream.cork?.();
    try {
      this.send(connection, this.settings, values[0]!, false);
      this.send(connection, this.statement, values[1]!, true);
      connection.sync();
    } finally {
      connection.stream.uncork?.();
    }
    return null;
  }

  private send(connection: Wire, s: Prepared, values: unknown[], describe: boolean): void {
    if (s.name === undefined) {
      connection.parse({ text: s.text });
    } else if (connection.parsedStatements[s.name] === undefined) {
      // A pipeline that failed after parsing may have left the name prepared: closing a name
      // that does not exist is no error, so this is safe either way.
      connection.close({ type: "S", name: s.name });
      connection.parse({ name: s.name, text: s.text });
      this.parsedHere.push(s);
    }
    connection.bind({ statement: s.name ?? "", values });
    if (describe) connection.describe({ type: "P", name: "" });
    connection.execute({});
  }

  handleRowDescription(message: { fields: unknown[] }): void {
    if (this.answering === "statement") this.result.addFields(message.fields);
  }

  handleDataRow(message: { fields: unknown[] }): void {
    if (this.answering !== "statement" || this.rowError) return;
    try {
      this.result.addRow(this.result.parseRow(message.fields));
    } catch (err) {
      this.rowError = err as Error;
    }
  }

  handleCommandComplete(message: unknown): void {
    if (this.answering === "statement") this.result.addCommandComplete(message);
    this.answering = "statement";
  }

  handleEmptyQuery(): void {}

  handlePortalSuspended(): void {}

  handleCopyInResponse(connection: Wire): void {
    connection.sendCopyFail("COPY is not supported by a statement run alone");
  }

  handleCopyData(): void {}

  handleError(err: Error): void {
    this.reject(err);
  }

  handleReadyForQuery(connection: Wire): void {
    if (this.rowError) return this.reject(this.rowError);
    for (const s of this.parsedHere) connection.parsedStatements[s.name!] = s.text;
    this.resolve({ rows: this.result.rows, rowCount: this.result.rowCount ?? 0 });
  }
}
