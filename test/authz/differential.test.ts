import assert from "node:assert/strict";
import type { Enforcer } from "casbin";
import { Scope } from "../../gen/rollcall/authz/v1/authz_pb.js";
import { authzMigrations } from "../../services/authz/migrations.js";
import { CompiledPolicy } from "../../services/authz/policy/compiled-policy.js";
import { CatalogueStore } from "../../services/authz/store/catalogue-store.js";
import { PolicyStore } from "../../services/authz/store/policy-store.js";
import { Sql } from "../../services/runtime/db/index.js";
import { openTestDatabase } from "../support/database.js";
import { casbinOf, randomQuery, randomWorld, rng, storePolicy, type Query, type RandomWorld } from "./support/random-policy.js";

const SEED = 20_261_123;

/** Compares one query's Check and ResolveScope with node-casbin's; returns whether it was allowed. */
function compare(policy: CompiledPolicy, casbin: Enforcer, q: Query, someoneElse: string, where: string): boolean {
  const ours = policy.check(q.subjectId, q.resource, q.action, q.ownerId || undefined);
  const theirs = casbin.enforceSync(q.subjectId, q.organizationId, q.resource, q.action, q.ownerId);
  assert.equal(ours.allowed, theirs, `${where} ${JSON.stringify(q)}: we say ${ours.allowed} (${ours.reason})`);

  const widest = policy.check(q.subjectId, q.resource, q.action);
  const scope = widest.allowed ? widest.scope : Scope.NONE;
  const expected = casbin.enforceSync(q.subjectId, q.organizationId, q.resource, q.action, someoneElse)
    ? Scope.ALL
    : casbin.enforceSync(q.subjectId, q.organizationId, q.resource, q.action, "") ? Scope.OWN : Scope.NONE;
  assert.equal(scope, expected, `${where} scope of ${JSON.stringify(q)}`);
  return ours.allowed;
}

describe("authz differential test against node-casbin (RBAC with domains + owner matcher)", function () {
  this.timeout(60_000);

  it(`decides as node-casbin on 1,000 random policies x 20 queries (seed ${SEED})`, async () => {
    const r = rng(SEED);
    let allowed = 0;
    let total = 0;
    for (let i = 0; i < 1000; i++) {
      const world = randomWorld(r);
      const casbin = await casbinOf(world.organizations);
      const policies = new Map(world.organizations.map((rows) => [rows.organizationId, new CompiledPolicy(rows)]));
      for (let q = 0; q < 20; q++) {
        const query = randomQuery(r, world);
        if (compare(policies.get(query.organizationId)!, casbin, query, r.uuid(), `policy ${i}`)) allowed++;
        total++;
      }
    }
    // Both answers must occur often, or agreeing would prove little.
    assert.ok(allowed > total * 0.15 && allowed < total * 0.85, `${allowed} of ${total} allowed`);
  });

  it("decides as node-casbin on a random policy stored in Postgres and loaded by the service", async function () {
    const database = await openTestDatabase();
    try {
      const { db } = database;
      await db.migrate("authz", authzMigrations);
      const sql = new Sql(db.sequelize);
      await db.withSystem((tx) => new CatalogueStore(sql).syncBuiltIns(tx));
      const r = rng(SEED + 1);
      const world: RandomWorld = randomWorld(r, { organizations: 2, resources: 12, roles: 15, grantsPerRole: 12, subjects: 200 });
      for (const org of world.organizations) await storePolicy(db, org);

      const policies = new Map<string, CompiledPolicy>();
      for (const org of world.organizations) {
        const loaded = await new PolicyStore(db).refresh(org.organizationId, undefined);
        assert.equal(loaded.kind, "full");
        if (loaded.kind === "full") policies.set(org.organizationId, new CompiledPolicy(loaded.rows));
      }
      const casbin = await casbinOf(world.organizations);
      for (let q = 0; q < 3000; q++) {
        const query = randomQuery(r, world);
        compare(policies.get(query.organizationId)!, casbin, query, r.uuid(), "stored");
      }
    } finally {
      await database.drop();
    }
  });
});
