import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { createLocalJWKSet } from "jose";
import { status } from "@grpc/grpc-js";
import { identityMigrations } from "../../services/identity/migrations.js";
import { KeyRing } from "../../services/identity/tokens/key-ring.js";
import { TokenIssuer } from "../../services/identity/tokens/token-issuer.js";
import { SecretBox } from "../../services/identity/crypto/secret-box.js";
import { TokenVerifier } from "../../services/runtime/auth/token-verifier.js";
import { CacheRevocationList, revocationKeys } from "../../services/runtime/auth/revocation.js";
import { AppError } from "../../services/runtime/errors.js";
import { createLogger } from "../../services/runtime/logger.js";
import { openTestDatabase, type TestDatabase } from "../support/database.js";
import { openTestCache } from "../support/cache.js";

const logger = createLogger("silent");
const HOUR = 3600;

describe("identity: signing keys, token issuance and revocation", function () {
  this.timeout(30_000);
  let database: TestDatabase;
  let testCache: Awaited<ReturnType<typeof openTestCache>>;
  const box = new SecretBox(Buffer.alloc(32, 3));

  before(async () => {
    database = await openTestDatabase();
    await database.db.migrate("identity", identityMigrations);
    testCache = await openTestCache();
  });
  after(async () => {
    await testCache?.cleanup();
    await database?.drop();
  });

  beforeEach(() => database.db.withSystem((tx) => database.db.sequelize.query("DELETE FROM identity.signing_keys", { transaction: tx })));

  const ring = () => new KeyRing(database.db, box, { rotationSec: 24 * HOUR, maxTokenTtlSec: 900, logger });
  const verifierFor = (keys: KeyRing, revocations?: CacheRevocationList) =>
    new TokenVerifier({ issuer: "rollcall", audience: "rollcall", keys: createLocalJWKSet(keys.jwks()), revocations });

  it("creates one key, stores its private half sealed, and shares it with another replica", async () => {
    const a = ring();
    await a.refresh();
    const b = ring();
    await b.refresh();
    assert.equal(a.jwks().keys.length, 1);
    assert.deepEqual(b.jwks(), a.jwks());
    const [row] = await database.db.withSystem((tx) => database.db.sequelize.query<{ private_jwk_enc: string }>("SELECT private_jwk_enc FROM identity.signing_keys", { transaction: tx, type: "SELECT" as never }));
    assert.match(row!.private_jwk_enc, /^v1\./);
    assert.doesNotMatch(row!.private_jwk_enc, /"d"/);
    const jwk = a.jwks().keys[0]!;
    assert.equal(jwk.alg, "EdDSA");
    assert.equal(jwk.d, undefined, "the JWKS publishes no private key");
  });

  it("mints user, device and service tokens the shared interceptor accepts", async () => {
    const keys = ring();
    await keys.refresh();
    const issuer = new TokenIssuer(keys, { issuer: "rollcall", audience: "rollcall", accessTokenTtlSec: 900, deviceTokenTtlSec: 300 });
    const verifier = verifierFor(keys);
    const org = randomUUID();
    const user = await verifier.verify((await issuer.forUser({ id: "u1", organizationId: org, roles: ["ADMIN"], staff: true }, "sess-1")).token);
    assert.deepEqual({ kind: user.kind, org: user.organizationId, sid: user.sessionId, roles: user.roles, staff: user.platformStaff }, { kind: "user", org, sid: "sess-1", roles: ["ADMIN"], staff: true });
    const device = await issuer.forDevice({ id: "cam-1", organizationId: org });
    assert.ok(device.expiresAt.getTime() - Date.now() <= 300_000);
    assert.equal((await verifier.verify(device.token)).kind, "device");
    assert.equal((await verifier.verify(await issuer.forService())).subject, "identity");
  });

  it("rotates with overlap: a new key signs, the old one stays published until its tokens expire", async () => {
    const keys = new KeyRing(database.db, box, { rotationSec: 60, maxTokenTtlSec: 900, logger });
    const t0 = new Date();
    await keys.refresh(t0);
    const issuer = new TokenIssuer(keys, { issuer: "rollcall", audience: "rollcall", accessTokenTtlSec: 900, deviceTokenTtlSec: 300 });
    const before = await issuer.forUser({ id: "u1", organizationId: randomUUID(), roles: [], staff: false }, "s");
    const kidBefore = JSON.parse(Buffer.from(before.token.split(".")[0]!, "base64url").toString()).kid;

    const later = new Date(t0.getTime() + 61_000);
    await keys.refresh(later);
    const signedLater = await keys.sign({ sub: "u1" }, 60, later);
    const kidAfter = JSON.parse(Buffer.from(signedLater.token.split(".")[0]!, "base64url").toString()).kid;
    assert.notEqual(kidAfter, kidBefore, "a new key signs after rotation");
    const published = keys.jwks().keys.map((k) => k.kid);
    assert.ok(published.includes(kidBefore) && published.includes(kidAfter), "both keys are published during the overlap");
    await verifierFor(keys).verify(before.token);
  });

  it("refuses tokens of a revoked session or a blocked organisation, through the shared cache", async () => {
    const keys = ring();
    await keys.refresh();
    const issuer = new TokenIssuer(keys, { issuer: "rollcall", audience: "rollcall", accessTokenTtlSec: 900, deviceTokenTtlSec: 300 });
    const verifier = verifierFor(keys, new CacheRevocationList(testCache.cache));
    const org = randomUUID();
    const sid = randomUUID();
    const token = (await issuer.forUser({ id: "u1", organizationId: org, roles: [], staff: false }, sid)).token;
    await verifier.verify(token);

    await testCache.cache.set(revocationKeys.session(sid), "logout", 5_000);
    await assert.rejects(verifier.verify(token), (err: AppError) => err.code === status.UNAUTHENTICATED && /session was revoked/.test(err.message));
    await testCache.cache.del(revocationKeys.session(sid));

    await testCache.cache.set(revocationKeys.organization(org), "SUSPENDED");
    await assert.rejects(verifier.verify(token), (err: AppError) => err.code === status.UNAUTHENTICATED && /organisation is suspended/.test(err.message));
    await testCache.cache.del(revocationKeys.organization(org));
    await verifier.verify(token);
  });
});
