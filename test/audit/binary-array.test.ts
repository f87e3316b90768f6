import assert from "node:assert/strict";
import { BinaryArrayWriter, ElementType } from "../../services/audit/chain/binary-array.js";
import { Sql } from "../../services/runtime/db/index.js";
import { openTestDatabase, type TestDatabase } from "../support/database.js";

/** Postgres reads each binary array back as the values written (embedded PGlite, or the real server with DATABASE_URL). */
describe("audit: binary array parameters", function () {
  let testDb: TestDatabase;
  let sql: Sql;

  before(async () => {
    testDb = await openTestDatabase();
    sql = new Sql(testDb.db.sequelize);
  });
  after(async () => testDb?.drop());

  const roundTrip = <T extends object>(text: string, array: Buffer) => testDb.db.withSystem((tx) => sql.rows<T>(tx, text, [array]));

  it("text: any characters, empty strings and NULLs, with nothing escaped", async () => {
    const values = ["plain", "", 'quote " and backslash \\', "{braces},commas", "NULL", "newline\nand\ttab", "ünïcödé ✓ 𝄞", null];
    const array = new BinaryArrayWriter(ElementType.text, values.length, 1);
    for (const value of values) array.text(value);
    const rows = await roundTrip<{ v: string | null }>(`SELECT v FROM unnest($1::text[]) WITH ORDINALITY AS t (v, i) ORDER BY i`, array.finish());
    assert.deepEqual(rows.map((row) => row.v), values);
  });

  it("uuid: canonical text in either case, and NULL; anything else is refused before sending", async () => {
    const values = ["00000000-0000-0000-0000-000000000000", "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0", "ABCDEFAB-CDEF-ABCD-EFAB-CDEFABCDEFAB", null];
    const array = new BinaryArrayWriter(ElementType.uuid, values.length);
    for (const value of values) array.uuid(value);
    const rows = await roundTrip<{ v: string | null }>(`SELECT v::text FROM unnest($1::uuid[]) WITH ORDINALITY AS t (v, i) ORDER BY i`, array.finish());
    assert.deepEqual(rows.map((row) => row.v), values.map((value) => value?.toLowerCase() ?? null));
    for (const bad of ["0f1e2d3c4b5a69788796a5b4c3d2e1f0", "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1fg", "0f1e2d3c-4b5a-6978-8796_a5b4c3d2e1f0", "x"]) {
      assert.throws(() => new BinaryArrayWriter(ElementType.uuid, 1).uuid(bad), /not a UUID/);
    }
  });

  it("timestamptz: millisecond instants before and after 2000, exactly", async () => {
    const values = [new Date("1969-12-31T23:59:59.999Z"), new Date("1999-12-31T23:59:59.999Z"), new Date("2000-01-01T00:00:00.000Z"), new Date("2026-12-02T16:34:02.507Z"), new Date("2262-04-11T23:47:16.854Z")];
    const array = new BinaryArrayWriter(ElementType.timestamptz, values.length);
    for (const value of values) array.timestamptz(value);
    const rows = await roundTrip<{ v: Date }>(`SELECT v FROM unnest($1::timestamptz[]) WITH ORDINALITY AS t (v, i) ORDER BY i`, array.finish());
    assert.deepEqual(rows.map((row) => row.v.toISOString()), values.map((value) => value.toISOString()));
    assert.throws(() => new BinaryArrayWriter(ElementType.timestamptz, 1).timestamptz(new Date(NaN)), /invalid Date/);
  });

  it("int8 and jsonb", async () => {
    const ids = [1n, 2n ** 53n + 1n, 9_223_372_036_854_775_807n];
    const idArray = new BinaryArrayWriter(ElementType.int8, ids.length);
    for (const id of ids) idArray.int8(id);
    const idRows = await roundTrip<{ v: string }>(`SELECT v::text FROM unnest($1::bigint[]) WITH ORDINALITY AS t (v, i) ORDER BY i`, idArray.finish());
    assert.deepEqual(idRows.map((row) => row.v), ids.map(String));

    const details = [{}, { a: [1, "two", null, true], "quote\"": "back\\slash", nested: { ü: "✓" } }];
    const jsonArray = new BinaryArrayWriter(ElementType.jsonb, details.length, 2);
    for (const detail of details) jsonArray.jsonb(JSON.stringify(detail));
    const jsonRows = await roundTrip<{ v: string }>(`SELECT v::text FROM unnest($1::jsonb[]) WITH ORDINALITY AS t (v, i) ORDER BY i`, jsonArray.finish());
    assert.deepEqual(jsonRows.map((row) => JSON.parse(row.v)), details);
  });

  it("refuses to finish with fewer elements than announced", () => {
    const array = new BinaryArrayWriter(ElementType.text, 2);
    array.text("one");
    assert.throws(() => array.finish(), /1 elements written, 2 announced/);
  });
});
