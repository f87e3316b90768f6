import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { status } from "@grpc/grpc-js";
import { QueryTypes, type Transaction } from "sequelize";
import { enableTenantIsolation, openDatabase, Sql, violatedUnique, type Database } from "../../services/runtime/db/index.js";
import { AppError } from "../../services/runtime/errors.js";
import { toStatus } from "../../services/runtime/grpc/status.js";
import { createLogger } from "../../services/runtime/logger.js";
import { openTestDatabase, type TestDatabase } from "../support/database.js";

const ORG_A = randomUUID();
const ORG_B = randomUUID();
const embedded = !process.env.DATABASE_URL;

/**
 * Sql's prepared statements and the statements run alone (tenantStatement/systemStatement), on a
 * Database of one connection, so that every call reuses the connection the previous one prepared on.
 */
describe("runtime/db statements", function () {
  let t: TestDatabase;
  let db: Database;
  let sql: Sql;

  before(async function () {
    this.timeout(60_000);
    t = await openTestDatabase();
    await t.db.migrate("stmt", [
      {
        name: "create_notes",
        async up(ctx) {
          await ctx.sql(`CREATE TABLE stmt.notes (
            id serial PRIMARY KEY, organization_id uuid NOT NULL, body text NOT NULL UNIQUE)`);
          await enableTenantIsolation(ctx, "stmt.notes");
        },
      },
    ]);
    db = await openDatabase({ url: t.url, logger: createLogger("silent"), poolMax: 1 });
    sql = new Sql(db.sequelize);
  });
  after(async () => {
    await db?.close();
    await t?.drop();
  });

  beforeEach(() =>
    db.withSystem(async (tx) => {
      await sql.execute(tx, "DELETE FROM stmt.notes");
      await sql.execute(tx, "INSERT INTO stmt.notes (organization_id, body) VALUES ($1, 'a1'), ($1, 'a2'), ($2, 'b1')", [ORG_A, ORG_B]);
    }),
  );

  const BODIES = "SELECT body FROM stmt.notes WHERE body <> $1 ORDER BY body";
  const bodies = (tx: Transaction) => sql.rows<{ body: string }>(tx, BODIES, [""]).then((rows) => rows.map((r) => r.body));
  const preparedCopies = (tx: Transaction, text: string) =>
    sql.row<{ n: number }>(tx, "SELECT count(*)::int AS n FROM pg_prepared_statements WHERE statement = $1", [text]).then((r) => r!.n);

  describe("Sql", () => {
    it("prepares a statement once per connection and keeps row-level security for each caller", async () => {
      // The same prepared statement, executed for one tenant, another, and the system in turn.
      assert.deepEqual(await db.withTenant(ORG_A, bodies), ["a1", "a2"]);
      assert.deepEqual(await db.withTenant(ORG_B, bodies), ["b1"]);
      assert.deepEqual(await db.withSystem(bodies), ["a1", "a2", "b1"]);
      const { who, org } = (await db.withTenant(ORG_B, (tx) =>
        sql.row<{ who: string; org: string }>(tx, "SELECT current_user AS who, current_setting('app.org') AS org WHERE $1", [true])))!;
      assert.deepEqual({ who, org }, { who: "rollcall_tenant", org: ORG_B });
      // Embedded PGlite shares one backend between connections: there statements stay unnamed.
      assert.equal(await db.withSystem((tx) => preparedCopies(tx, BODIES)), embedded ? 0 : 1);
    });

    it("discards a connection whose prepared statement a migration changed, so the next call succeeds", async function () {
      if (embedded) this.skip(); // nothing is prepared there
      const ALL = "SELECT * FROM stmt.notes WHERE body = $1";
      assert.equal((await db.withSystem((tx) => sql.rows(tx, ALL, ["a1"]))).length, 1);
      // What another replica's migration does during a rolling deploy.
      await t.db.migrate("stmt", [{ name: "add_extra", up: (ctx) => ctx.sql("ALTER TABLE stmt.notes ADD COLUMN extra text") }]);
      try {
        await assert.rejects(db.withSystem((tx) => sql.rows(tx, ALL, ["a1"])), /cached plan must not change result type/);
        const [row] = await db.withSystem((tx) => sql.rows<{ extra: unknown }>(tx, ALL, ["a1"]));
        assert.ok(row && "extra" in row, "a fresh connection prepares the statement again, with the new column");
      } finally {
        await t.db.migrate("stmt", [{ name: "drop_extra", up: (ctx) => ctx.sql("ALTER TABLE stmt.notes DROP COLUMN extra") }]);
      }
    });

    it("keeps the Postgres error of a failed statement, and the connection usable", async () => {
      const insert = "INSERT INTO stmt.notes (organization_id, body) VALUES ($1, $2)";
      const err = await db.withTenant(ORG_A, (tx) => sql.execute(tx, insert, [ORG_A, "a1"])).then(
        () => assert.fail("a duplicate was inserted"),
        (e: unknown) => e,
      );
      assert.equal(violatedUnique(err), "notes_body_key");
      const mapped = toStatus(err, "req-1", createLogger("silent"));
      assert.equal(mapped.code, status.ALREADY_EXISTS);
      assert.match(mapped.details, /^a record with the same .* already exists$/);
      // Rolled back, and the statement runs again on the same connection.
      assert.equal(await db.withTenant(ORG_A, (tx) => sql.execute(tx, insert, [ORG_A, "a3"])), 1);
      assert.deepEqual(await db.withSystem(bodies), ["a1", "a2", "a3", "b1"]);
    });

    it("runs several statements of a text without bind values, as before", async () => {
      const touched = await db.withTenant(ORG_A, (tx) =>
        sql.execute(tx, "UPDATE stmt.notes SET body = body || '-x'; DELETE FROM stmt.notes WHERE body = 'a2-x'"));
      assert.equal(touched, 3);
      assert.deepEqual(await db.withSystem(bodies), ["a1-x", "b1"]);
    });

    it("refuses an undefined bind value instead of writing NULL", async () => {
      await assert.rejects(db.withSystem((tx) => sql.rows(tx, BODIES, [undefined])), /bind parameter \$1 is undefined/);
    });
  });

  describe("tenantStatement / systemStatement", () => {
    const whoAmI = "SELECT current_user AS who, current_setting('app.org', true) AS org WHERE $1";

    it("sees only the tenant's rows, and the settings end with the statement", async () => {
      assert.deepEqual((await db.tenantStatement<{ body: string }>(ORG_A, BODIES, [""])).map((r) => r.body), ["a1", "a2"]);
      assert.deepEqual((await db.tenantStatement<{ body: string }>(ORG_B, BODIES, [""])).map((r) => r.body), ["b1"]);
      assert.deepEqual((await db.systemStatement<{ body: string }>(BODIES, [""])).map((r) => r.body), ["a1", "a2", "b1"]);
      assert.deepEqual(await db.tenantStatement(ORG_B, whoAmI, [true]), [{ who: "rollcall_tenant", org: ORG_B }]);
      // The next query on the one connection runs as the login again, with no organisation.
      const [after] = await db.sequelize.query<{ who: string; org: string | null }>(
        "SELECT current_user AS who, current_setting('app.org', true) AS org", { type: QueryTypes.SELECT });
      assert.notEqual(after!.who, "rollcall_tenant");
      assert.ok(!after!.org, `app.org leaked: ${after!.org}`);
      // Its own prepared copy beside Sql's: pg's bookkeeping of prepared names is not shared with it.
      assert.equal(await db.withSystem((tx) => preparedCopies(tx, BODIES)), embedded ? 0 : 2);
    });

    it("refuses to write another organisation's row, and commits nothing of a failed statement", async () => {
      await assert.rejects(
        db.tenantStatement(ORG_A, "INSERT INTO stmt.notes (organization_id, body) VALUES ($1, 'sneaky')", [ORG_B]),
        /row-level security/,
      );
      const insertTwo = "INSERT INTO stmt.notes (organization_id, body) VALUES ($1, $2), ($1, $3) RETURNING body";
      const err = await db.tenantStatement(ORG_A, insertTwo, [ORG_A, "a9", "a1"]).then(() => assert.fail("inserted"), (e: unknown) => e);
      assert.equal(toStatus(err, "req-2", createLogger("silent")).code, status.ALREADY_EXISTS);
      // Nothing of either is left, and the same statement, parsed by the failed call, runs now.
      assert.deepEqual(await db.tenantStatement(ORG_A, insertTwo, [ORG_A, "a8", "a9"]), [{ body: "a8" }, { body: "a9" }]);
      assert.deepEqual(await db.withSystem(bodies), ["a1", "a2", "a8", "a9", "b1"]);
    });

    it("answers writes' rows, and rejects a bad organisation id or a call inside a helper", async () => {
      const rows = await db.systemStatement<{ id: number }>("UPDATE stmt.notes SET body = body || '!' WHERE organization_id = $1 RETURNING id", [ORG_A]);
      assert.equal(rows.length, 2);
      await assert.rejects(db.tenantStatement("nope' OR true --", BODIES, [""]), (e: unknown) => e instanceof AppError && e.code === status.INVALID_ARGUMENT);
      await assert.rejects(
        db.withTenant(ORG_A, () => db.systemStatement(BODIES, [""])),
        /systemStatement\(\) was called inside withTenant\(\)/,
      );
    });
  });
});
