/**
 * Schema and table names end up spliced into DDL (they cannot be bind parameters), so only plain
 * lower-case identifiers are accepted: nothing that needs quoting, nothing that could smuggle SQL.
 */
const IDENTIFIER = /^[a-z_][a-z0-9_]{0,62}$/;

export function assertIdentifier(name: string, what: string): string {
  if (!IDENTIFIER.test(name)) {
    throw new Error(
      `${what} ${JSON.stringify(name)} is not a valid identifier: use lower-case letters, digits and _ (max 63 chars, not starting with a digit)`,
    );
  }
  return name;
}

export interface QualifiedName {
  schema: string;
  table: string;
  /** `"schema"."table"`, ready to splice into SQL. */
  sql: string;
}

/** Parses `"schema.table"`; both parts are required so a table never lands in `public` by accident. */
export function parseQualifiedName(name: string): QualifiedName {
  const parts = name.split(".");
  if (parts.length !== 2) {
    throw new Error(`expected a table name of the form "schema.table", got ${JSON.stringify(name)}`);
  }
  const schema = assertIdentifier(parts[0]!, "schema");
  const table = assertIdentifier(parts[1]!, "table");
  return { schema, table, sql: `"${schema}"."${table}"` };
}
