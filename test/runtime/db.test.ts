import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { status } from "@grpc/grpc-js";
import pg from "pg";
import { QueryTypes, type Transaction } from "sequelize";
import {
  enableTenantIsolation,
  openDatabase,
  type Database,
  type Migration,
} from "../../services/runtime/db/index.js";
import { AppError } from "../../services/runtime/errors.js";
import { createLogger } from "../../services/runtime/logger.js";
import { openTestDatabase, type TestDatabase } from "../support/database.js";

const ORG_A = randomUUID();
const ORG_B = randomUUID();

describe("runtime/db", function () {
  let t: TestDatabase;
  let db: Database;

  before(async function () {
    this.timeout(60_000); // a fresh PGlite takes a few seconds to boot
    t = await openTestDatabase();
    db = t.db;
  });
  after(async () => t?.drop());

  const select = <T extends object>(sql: string, tx: Transaction | null = null) =>
    db.sequelize.query<T>(sql, { type: QueryTypes.SELECT, transaction: tx });
  const tableExists = async (name: string) =>
    (await select<{ oid: string | null }>(`SELECT to_regclass('${name}') AS oid`))[0]!.oid !== null;
  const recorded = (schema: string) =>
    select<{ name: string; applied_at: Date }>(`SELECT name, applied_at FROM ${schema}.schema_migrations ORDER BY name`);
  const createTable = (name: string): Migration => ({
    name: `create_${name}`,
    up: (ctx) => ctx.sql(`CREATE TABLE ${ctx.schema}.${name} (id int PRIMARY KEY)`),
  });

  it("answers ping", async () => {
    await db.ping();
  });

  describe("migrate", () => {
    it("applies migrations to an empty schema, and a re-run is a no-op", async () => {
      const migrations = [createTable("one"), createTable("two")];

      assert.deepEqual(await db.migrate("mig_fresh", migrations), ["create_one", "create_two"]);
      assert.ok(await tableExists("mig_fresh.one"));
      assert.ok(await tableExists("mig_fresh.two"));
      const rows = await recorded("mig_fresh");
      assert.deepEqual(rows.map((r) => r.name), ["create_one", "create_two"]);

      assert.deepEqual(await db.migrate("mig_fresh", migrations), []);
      assert.deepEqual(await recorded("mig_fresh"), rows);
    });

    it("rolls back a failing migration entirely and keeps the earlier ones", async () => {
      const failing: Migration = {
        name: "create_half_then_fail",
        async up(ctx) {
          await ctx.sql(`CREATE TABLE ${ctx.schema}.half (id int)`);
          throw new Error("boom");
        },
      };

      await assert.rejects(db.migrate("mig_fail", [createTable("kept"), failing]), (err: Error) => {
        assert.match(err.message, /"create_half_then_fail" of schema "mig_fail" failed.*boom/);
        return true;
      });
      assert.ok(await tableExists("mig_fail.kept"));
      assert.equal(await tableExists("mig_fail.half"), false);
      assert.deepEqual((await recorded("mig_fail")).map((r) => r.name), ["create_kept"]);
    });

    it("applies each migration exactly once when two instances migrate at the same time", async () => {
      const replica = await openDatabase({ url: t.url, logger: createLogger("silent") });
      try {
        const runs = new Map<string, number>();
        const migrations = ["a", "b", "c"].map((table): Migration => ({
          name: `create_${table}`,
          async up(ctx) {
            runs.set(table, (runs.get(table) ?? 0) + 1);
            await ctx.sql("SELECT pg_sleep(0.05)"); // widen the race window
            await ctx.sql(`CREATE TABLE ${ctx.schema}.${table} (id int)`);
          },
        }));

        const [first, second] = await Promise.all([
          db.migrate("mig_race", migrations),
          replica.migrate("mig_race", migrations),
        ]);

        assert.deepEqual([...first, ...second].sort(), ["create_a", "create_b", "create_c"]);
        assert.deepEqual(Object.fromEntries(runs), { a: 1, b: 1, c: 1 });
        assert.equal((await recorded("mig_race")).length, 3);
      } finally {
        await replica.close();
      }
    });
  });

  describe("row-level security", () => {
    type Note = { organization_id: string; body: string };
    const notes = (tx: Transaction) =>
      select<Note>("SELECT organization_id, body FROM rls.notes ORDER BY body", tx);
    const bodies = (rows: Note[]) => rows.map((r) => r.body);

    before(async () => {
      await db.migrate("rls", [
        {
          name: "create_notes",
          async up(ctx) {
            await ctx.sql(`CREATE TABLE rls.notes (
              id serial PRIMARY KEY, organization_id uuid NOT NULL, body text NOT NULL)`);
            await enableTenantIsolation(ctx, "rls.notes");
          },
        },
      ]);
    });

    beforeEach(() =>
      db.withSystem(async (tx) => {
        await db.sequelize.query("DELETE FROM rls.notes", { transaction: tx });
        await db.sequelize.query(
          "INSERT INTO rls.notes (organization_id, body) VALUES ($1, 'a1'), ($1, 'a2'), ($2, 'b1')",
          { bind: [ORG_A, ORG_B], transaction: tx },
        );
      }),
    );

    it("shows a tenant only its own rows, even without a WHERE clause", async () => {
      assert.deepEqual(bodies(await db.withTenant(ORG_A, notes)), ["a1", "a2"]);
      assert.deepEqual(bodies(await db.withTenant(ORG_B, notes)), ["b1"]);
    });

    it("lets UPDATE and DELETE without WHERE touch only the tenant's rows", async () => {
      await db.withTenant(ORG_A, (tx) =>
        db.sequelize.query("UPDATE rls.notes SET body = body || '-edited'", { transaction: tx }),
      );
      assert.deepEqual(bodies(await db.withSystem(notes)), ["a1-edited", "a2-edited", "b1"]);

      await db.withTenant(ORG_A, (tx) => db.sequelize.query("DELETE FROM rls.notes", { transaction: tx }));
      assert.deepEqual(await db.withSystem(notes), [{ organization_id: ORG_B, body: "b1" }]);
    });

    it("refuses to insert a row for another organisation", async () => {
      await assert.rejects(
        db.withTenant(ORG_A, (tx) =>
          db.sequelize.query("INSERT INTO rls.notes (organization_id, body) VALUES ($1, 'sneaky')", {
            bind: [ORG_B],
            transaction: tx,
          }),
        ),
        /new row violates row-level security policy/,
      );
      assert.deepEqual(bodies(await db.withSystem(notes)), ["a1", "a2", "b1"]);
    });

    it("lets withSystem see every tenant's rows", async () => {
      assert.deepEqual(bodies(await db.withSystem(notes)), ["a1", "a2", "b1"]);
    });

    it("rejects an organisation id that is not a UUID", async () => {
      let called = false;
      await assert.rejects(
        db.withTenant("acme' OR true --", async () => {
          called = true;
        }),
        (err: unknown) => err instanceof AppError && err.code === status.INVALID_ARGUMENT,
      );
      assert.equal(called, false);
    });

    it("refuses a query inside withTenant that does not run in its transaction", async () => {
      const forgetful: Array<() => Promise<unknown>> = [
        () => db.sequelize.query("SELECT * FROM rls.notes"),
        () => select("SELECT * FROM rls.notes", null),
        () => db.sequelize.transaction((other) => notes(other)),
      ];
      for (const mistake of forgetful) {
        await assert.rejects(
          db.withTenant(ORG_A, mistake),
          /inside withTenant\(\) did not run in its transaction: pass \{ transaction: tx \}/,
        );
      }
      // After the commit, e.g. in an afterCommit hook, queries of their own are fine again.
      let afterCommit: Promise<unknown> | undefined;
      await db.withTenant(ORG_A, async (tx) => {
        tx.afterCommit(() => {
          afterCommit = select("SELECT 1 AS one");
        });
      });
      assert.deepEqual(await afterCommit, [{ one: 1 }]);
      // A savepoint inside the transaction is part of it.
      const rows = await db.withTenant(ORG_A, (tx) =>
        db.sequelize.transaction({ transaction: tx }, (savepoint) => notes(savepoint)),
      );
      assert.deepEqual(bodies(rows), ["a1", "a2"]);
    });

    it("refuses to nest withSystem inside withTenant", async () => {
      await assert.rejects(
        db.withTenant(ORG_A, () => db.withSystem(notes)),
        /withSystem\(\) was called inside withTenant\(\)/,
      );
      // The helpers are usable again once the outer one has finished.
      assert.deepEqual(bodies(await db.withTenant(ORG_A, notes)), ["a1", "a2"]);
    });

    it("shows nothing to a non-superuser login that bypasses the helpers", async function () {
      if (!process.env.DATABASE_URL) this.skip(); // PGlite connects everyone as its superuser
      const login = `rollcall_test_login_${process.pid}_${randomUUID().slice(0, 8)}`;
      const admin = (sql: string) => db.sequelize.query(sql);
      // Like a service login: a member of both runtime roles, with read access to the table.
      await admin(`CREATE ROLE ${login} LOGIN; GRANT rollcall_tenant, rollcall_system TO ${login};
        GRANT USAGE ON SCHEMA rls TO ${login}; GRANT SELECT ON rls.notes TO ${login}`);
      const url = new URL(t.url);
      url.username = login;
      const client = new pg.Client(url.href);
      try {
        await client.connect();
        assert.deepEqual((await client.query("SELECT * FROM rls.notes")).rows, []);
      } finally {
        await client.end();
        await admin(`DROP OWNED BY ${login}; DROP ROLE ${login}`);
      }
    });

    it("lets tenants read, but not change, shared rows when readableGlobalRows is set", async () => {
      await db.migrate("rls", [
        {
          name: "create_catalog",
          async up(ctx) {
            await ctx.sql("CREATE TABLE rls.catalog (organization_id uuid, name text NOT NULL)");
            await enableTenantIsolation(ctx, "rls.catalog", { readableGlobalRows: true });
          },
        },
      ]);
      await db.withSystem((tx) =>
        db.sequelize.query("INSERT INTO rls.catalog VALUES (NULL, 'shared'), ($1, 'mine'), ($2, 'theirs')", {
          bind: [ORG_A, ORG_B],
          transaction: tx,
        }),
      );
      const names = (tx: Transaction) =>
        select<{ name: string }>("SELECT name FROM rls.catalog ORDER BY name", tx).then((r) => r.map((x) => x.name));

      assert.deepEqual(await db.withTenant(ORG_A, names), ["mine", "shared"]);
      await db.withTenant(ORG_A, (tx) =>
        db.sequelize.query("DELETE FROM rls.catalog; UPDATE rls.catalog SET name = 'x'", { transaction: tx }),
      );
      assert.deepEqual(await db.withSystem(names), ["shared", "theirs"]);
      await assert.rejects(
        db.withTenant(ORG_A, (tx) =>
          db.sequelize.query("INSERT INTO rls.catalog VALUES (NULL, 'forged')", { transaction: tx }),
        ),
        /row-level security/,
      );
    });

    it("keeps concurrent tenant transactions apart", async () => {
      const seen = await Promise.all(
        Array.from({ length: 20 }, (_, i) => {
          const org = i % 2 === 0 ? ORG_A : ORG_B;
          return db.withTenant(org, async (tx) => {
            await select("SELECT pg_sleep(0.005)", tx); // hold the transaction open while others start
            return { org, rows: await notes(tx) };
          });
        }),
      );
      for (const { org, rows } of seen) {
        assert.ok(rows.length > 0 && rows.every((r) => r.organization_id === org), `leak into ${org}`);
      }
    });
  });

  it("keeps a parameterised query whole when its bytes arrive in pieces", async () => {
    // Regression test for embedded mode: pglite-socket runs all connections on one backend.
    const [slow, fast] = [new pg.Client(t.url), new pg.Client(t.url)];
    await Promise.all([slow.connect(), fast.connect()]);
    try {
      deliverRestOfQueryLater(slow, 50);
      const first = slow.query("SELECT $1::text AS from_slow", ["slow"]);
      await new Promise((resolve) => setTimeout(resolve, 10)); // its Parse has reached the server
      const second = await fast.query("SELECT $1::int AS from_fast", [7]);

      assert.deepEqual((await first).rows, [{ from_slow: "slow" }]);
      assert.deepEqual(second.rows, [{ from_fast: 7 }]);
    } finally {
      await Promise.all([slow.end(), fast.end()]);
    }
  });
});

/** Sends the next Parse message at once and everything after it `delayMs` later. */
function deliverRestOfQueryLater(client: pg.Client, delayMs: number): void {
  const stream = (client as unknown as { connection: { stream: NodeJS.WritableStream } }).connection.stream;
  const write = stream.write.bind(stream) as (chunk: Buffer) => boolean;
  const held: Buffer[] = [];
  let holding = false;
  stream.write = ((chunk: Buffer) => {
    if (holding) return held.push(chunk) > 0;
    if (chunk[0] === "P".charCodeAt(0)) {
      holding = true;
      setTimeout(() => {
        stream.write = write as typeof stream.write;
        for (const c of held) write(c);
      }, delayMs);
    }
    return write(chunk);
  }) as typeof stream.write;
}
