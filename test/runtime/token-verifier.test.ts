import assert from "node:assert/strict";
import { status } from "@grpc/grpc-js";
import { TokenVerifier, remoteKeySet } from "../../services/runtime/auth/token-verifier.js";
import { AppError } from "../../services/runtime/errors.js";
import { newSigner, serveJwks, signToken, type TestSigner } from "../support/tokens.js";

describe("access token verification (jose, keys from a JWKS endpoint)", () => {
  let signer: TestSigner;
  let jwks: Awaited<ReturnType<typeof serveJwks>>;
  let verifier: TokenVerifier;
  const revoked = new Set<string>();

  before(async () => {
    signer = await newSigner();
    jwks = await serveJwks([signer.publicJwk]);
    verifier = new TokenVerifier({
      issuer: "rollcall",
      audience: "rollcall",
      keys: remoteKeySet(jwks.url, 60_000),
      revocations: { reasonToRefuse: async ({ sessionId }) => (sessionId && revoked.has(sessionId) ? "session was revoked; log in again" : undefined) },
    });
  });
  after(() => jwks.close());

  const rejects = (token: string, pattern: RegExp, code = status.UNAUTHENTICATED) =>
    assert.rejects(verifier.verify(token), (err: unknown) => {
      assert.ok(err instanceof AppError, String(err));
      assert.equal(err.code, code);
      assert.match(err.message, pattern);
      return true;
    });

  it("accepts a valid token and returns its caller", async () => {
    const token = await signToken(signer, { sub: "user-1", org: "00000000-0000-4000-8000-000000000001", roles: ["ADMIN"], sid: "s1" });
    const caller = await verifier.verify(token);
    assert.equal(caller.kind, "user");
    assert.equal(caller.subject, "user-1");
    assert.equal(caller.organizationId, "00000000-0000-4000-8000-000000000001");
    assert.deepEqual(caller.roles, ["ADMIN"]);
    assert.equal(caller.sessionId, "s1");
  });

  it("caches the key set instead of fetching it per call", async () => {
    const before = jwks.requests();
    for (let i = 0; i < 20; i++) await verifier.verify(await signToken(signer));
    assert.equal(jwks.requests(), before);
  });

  it("rejects an expired token", async () => {
    await rejects(await signToken(signer, { expiresInSec: -60 }), /expired/);
  });

  it("rejects a token signed with a key not in the JWKS", async () => {
    const stranger = await newSigner("unknown-kid");
    await rejects(await signToken(stranger), /unknown key/);
  });

  it("rejects a token whose signature does not match the published key", async () => {
    const impostor = await newSigner(signer.kid);
    await rejects(await signToken(impostor), /signature is not valid/);
  });

  it("rejects a wrong issuer or audience, naming the claim", async () => {
    await rejects(await signToken(signer, { issuer: "someone-else" }), /claim "iss"/);
    await rejects(await signToken(signer, { audience: "other" }), /claim "aud"/);
  });

  it("rejects garbage", async () => {
    await rejects("not.a.jwt", /malformed/);
  });

  it("rejects a user token without an organisation", async () => {
    await rejects(await signToken(signer, { org: "" }), /no organisation/);
  });

  it("rejects a token of a revoked session", async () => {
    revoked.add("s-revoked");
    await rejects(await signToken(signer, { sid: "s-revoked" }), /revoked/);
  });

  it("answers UNAVAILABLE, not UNAUTHENTICATED, when the key set cannot be fetched", async () => {
    const offline = new TokenVerifier({ issuer: "rollcall", audience: "rollcall", keys: remoteKeySet("http://127.0.0.1:9/jwks.json", 60_000) });
    await assert.rejects(offline.verify(await signToken(signer)), (err: unknown) => {
      assert.ok(err instanceof AppError);
      assert.equal(err.code, status.UNAVAILABLE, err.message);
      return true;
    });
  });
});
