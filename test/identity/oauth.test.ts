import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { status } from "@grpc/grpc-js";
import { fromBinary, toJsonString } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { QueryTypes } from "sequelize";
import { AuditEventSchema, type AuditEvent } from "../../gen/rollcall/audit/v1/bus_pb.js";
import { AuthService } from "../../gen/rollcall/identity/v1/auth_pb.js";
import { OAuthProviderSchema, OAuthService } from "../../gen/rollcall/identity/v1/oauth_pb.js";
import { UserService } from "../../gen/rollcall/identity/v1/user_pb.js";
import type { RunningHost } from "../../services/runtime/host.js";
import type { RpcClient } from "../../services/runtime/grpc/client.js";
import { AppError } from "../../services/runtime/errors.js";
import { Namespace } from "../../services/runtime/bus/subjects.js";
import { SecretBox } from "../../services/identity/crypto/secret-box.js";
import { STARTS_PER_IP_PER_MINUTE } from "../../services/identity/oauth/login.js";
import { codeChallenge } from "../../services/identity/oauth/pkce.js";
import { accessTokenHash } from "../../services/identity/oauth/id-token.js";
import { usernameBase } from "../../services/identity/oauth/link.js";
import { startIdentityMesh, type IdentityMesh } from "./mesh-fixture.js";
import { CLIENT_ID, CLIENT_SECRET, REDIRECT_URI, freePort, signInAtProvider, startOpenIdProvider, startTokenProxy, type OpenIdProvider } from "./oidc-provider.js";
import { deleteStreams } from "../support/bus.js";

const stateKey = (state: string) => `oauth:state:${createHash("sha256").update(state).digest("hex")}`;

const rejectsWith = (code: status, message?: RegExp) => (err: unknown) => {
  assert.ok(err instanceof AppError, `expected an AppError, got ${String(err)}`);
  assert.equal(status[err.code], status[code], err.message);
  if (message) assert.match(err.message, message);
  return true;
};

// ---------------------------------------------------------------------------------------------

describe("OAuth / OpenID Connect login, end to end against a real OpenID provider", function () {
  this.timeout(30_000);
  const encryptionKey = randomBytes(32);
  let op: OpenIdProvider;
  let tokenProxy: Awaited<ReturnType<typeof startTokenProxy>>;
  let mesh: IdentityMesh;
  let host: RunningHost;
  let oauth: RpcClient<typeof OAuthService>;
  let auth: RpcClient<typeof AuthService>;
  let usersApi: RpcClient<typeof UserService>;
  let admin: string;
  let providerId: string;

  const rows = <T extends object>(sql: string, bind: unknown[] = []) =>
    host.db.withSystem((tx) => host.db.sequelize.query<T>(sql, { bind, transaction: tx, type: QueryTypes.SELECT }));

  /** Every secret the flows below handle: none may ever appear in an audit event. */
  const secrets = new Set<string>([CLIENT_SECRET]);

  /** Start, the browser at the provider, and Complete: the whole login as a web app drives it. */
  async function loginAs(sub: string, providerName = "local", deviceId = `device-${randomBytes(4).toString("hex")}`) {
    const started = await oauth.startOAuthLogin({ organizationCode: "default", providerName, redirectUri: REDIRECT_URI });
    const callback = await signInAtProvider(started.authorizationUrl, sub);
    assert.equal(callback.get("state"), started.state);
    secrets.add(started.state).add(callback.get("code")!);
    const done = await oauth.completeOAuthLogin({ state: started.state, code: callback.get("code")!, deviceId, userAgent: "oauth-test" });
    secrets.add(done.tokens!.accessToken).add(done.tokens!.refreshToken);
    return done;
  }

  before(async function () {
    this.timeout(60_000);
    op = await startOpenIdProvider();
    tokenProxy = await startTokenProxy(() => `${op.issuer}/token`, (body) => {
      // Flips one bit of the ID token's signature, as an attacker in the middle would have to.
      const [header, payload, signature] = (body.id_token as string).split(".");
      const bytes = Buffer.from(signature!, "base64url");
      bytes[0]! ^= 1;
      return { ...body, id_token: `${header}.${payload}.${bytes.toString("base64url")}` };
    });
    mesh = await startIdentityMesh({ ROLLCALL_ENCRYPTION_KEY: encryptionKey.toString("base64") });
    host = mesh.host;
    oauth = mesh.client(OAuthService);
    auth = mesh.client(AuthService);
    usersApi = mesh.client(UserService);
    admin = await mesh.adminToken();
  });

  after(async () => {
    const namespace = mesh?.env.ROLLCALL_BUS_NAMESPACE;
    await mesh?.stop();
    if (process.env.NATS_URL && namespace) await deleteStreams(process.env.NATS_URL, new Namespace(namespace).streamPrefix);
    await tokenProxy?.close();
    await op?.close();
  });

  describe("provider administration", () => {
    it("creates a provider from the issuer's discovery document, never showing its secret", async () => {
      const { provider } = await oauth.createOAuthProvider({
        name: "local", issuer: op.issuer, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET,
        settings: { redirect_uris: [REDIRECT_URI] },
      }, { bearer: admin });
      providerId = provider!.id;
      assert.equal(provider!.hasClientSecret, true);
      assert.deepEqual(provider!.scopes, ["openid", "email", "profile"]);
      assert.equal(provider!.tokenEndpoint, "", "discovered endpoints are not stored");
      assert.deepEqual(provider!.settings, { redirect_uris: [REDIRECT_URI] });
      assert.ok(!toJsonString(OAuthProviderSchema, provider!).includes(CLIENT_SECRET));

      const { providers } = await oauth.listOAuthProviders({}, { bearer: admin });
      assert.deepEqual(providers.map((p) => p.name), ["local"]);
      assert.ok(!providers.map((p) => toJsonString(OAuthProviderSchema, p)).join().includes(CLIENT_SECRET));
    });

    it("stores the client secret sealed with AES-256-GCM under the configured key, bound to the provider", async () => {
      const [row] = await rows<{ client_secret_enc: string }>("SELECT client_secret_enc FROM identity.oauth_providers WHERE id = $1", [providerId]);
      assert.ok(row && !row.client_secret_enc.includes(CLIENT_SECRET));
      assert.match(row.client_secret_enc, /^v1\./);
      const box = new SecretBox(encryptionKey);
      assert.equal(box.open(row.client_secret_enc, providerId), CLIENT_SECRET);
      assert.throws(() => box.open(row.client_secret_enc, "another provider"));
    });

    it("refuses bad input, naming the field", async () => {
      const valid = { name: "other", issuer: op.issuer, clientId: CLIENT_ID, clientSecret: "x" };
      const cases: [Record<string, unknown>, RegExp][] = [
        [{ name: "Not A Name" }, /^name:/],
        [{ issuer: "ftp://idp.example" }, /^issuer: must be an https URL/],
        [{ issuer: "http://idp.example" }, /^issuer: must be an https URL/],
        [{ issuer: `${op.issuer}/` }, /^issuer: .*names issuer/],
        [{ clientId: "" }, /^client_id: is required/],
        [{ clientSecret: "" }, /^client_secret: is required/],
        [{ scopes: ["email"] }, /^scopes: must include "openid"/],
        [{ tokenEndpoint: "not a url" }, /^token_endpoint:/],
        [{ settings: { redirect_uris: ["/relative"] } }, /^settings\.redirect_uris\[0\]:/],
        [{ settings: { token_endpoint: "https://x.example/token" } }, /^settings\.token_endpoint: set the token_endpoint field/],
      ];
      for (const [change, message] of cases) {
        await assert.rejects(oauth.createOAuthProvider({ ...valid, ...change }, { bearer: admin }), rejectsWith(status.INVALID_ARGUMENT, message));
      }
      await assert.rejects(oauth.createOAuthProvider({ ...valid, name: "local" }, { bearer: admin }), rejectsWith(status.ALREADY_EXISTS, /"local"/));
      await assert.rejects(oauth.listOAuthProviders({}), rejectsWith(status.UNAUTHENTICATED));
    });
  });

  describe("the login flow", () => {
    let alice: Awaited<ReturnType<typeof loginAs>>;

    it("starts with an authorization URL carrying state, nonce and an S256 PKCE challenge", async () => {
      const started = await oauth.startOAuthLogin({ organizationCode: "default", providerName: "local", redirectUri: REDIRECT_URI });
      const url = new URL(started.authorizationUrl);
      assert.equal(url.origin + url.pathname, `${op.issuer}/auth`);
      const q = url.searchParams;
      assert.equal(q.get("response_type"), "code");
      assert.equal(q.get("client_id"), CLIENT_ID);
      assert.equal(q.get("redirect_uri"), REDIRECT_URI);
      assert.equal(q.get("scope"), "openid email profile");
      assert.equal(q.get("state"), started.state);
      assert.equal(q.get("code_challenge_method"), "S256");
      assert.match(q.get("code_challenge")!, /^[\w-]{43}$/);
      assert.match(q.get("nonce")!, /^[\w-]{43}$/);
      const ttlMs = Number(started.expiresAt!.seconds) * 1000 - Date.now();
      assert.ok(ttlMs > 9 * 60_000 && ttlMs <= 10 * 60_000, `state lives ${ttlMs} ms`);

      // Kept in the shared cache under the state's hash, with its TTL, the verifier sealed.
      const stored = await host.cache.get(stateKey(started.state));
      assert.ok(stored, "the attempt is in the cache");
      assert.ok(!stored.includes(started.state));
      const attempt = JSON.parse(stored) as { verifier: string; nonce: string; redirectUri: string };
      assert.match(attempt.verifier, /^v1\./);
      assert.equal(attempt.nonce, q.get("nonce"));
      assert.equal(attempt.redirectUri, REDIRECT_URI);
      const pttl = await host.cache.pttl(stateKey(started.state));
      assert.ok(pttl > 9 * 60_000 && pttl <= 10 * 60_000, `cache TTL ${pttl} ms`);
    });

    it("creates and links a new user on the first login, and opens a session the mesh accepts", async () => {
      alice = await loginAs("alice-0001", "local", "alice-laptop");
      assert.equal(alice.userCreated, true);
      assert.equal(alice.user!.email, "Alice@Example.test");
      assert.equal(alice.user!.emailVerified, true);
      assert.equal(alice.user!.username, "alice");
      assert.equal(alice.user!.firstName, "Alice");
      assert.equal(alice.user!.hasPassword, false);

      const { sessions } = await auth.listSessions({}, { bearer: alice.tokens!.accessToken });
      const session = sessions.find((s) => s.id === alice.tokens!.sessionId);
      assert.ok(session, "the new session is listed with its own access token");
      assert.equal(session.deviceId, "alice-laptop");
      assert.equal(session.userAgent, "oauth-test");

      const refreshed = await auth.refresh({ refreshToken: alice.tokens!.refreshToken });
      assert.equal(refreshed.tokens!.sessionId, alice.tokens!.sessionId);

      const [account] = await rows<{ id: string; user_id: string; access_token_enc: string | null; provider_data: Record<string, unknown> }>(
        "SELECT id, user_id, access_token_enc, provider_data FROM identity.oauth_accounts WHERE provider_id = $1 AND provider_user_id = $2", [providerId, "alice-0001"]);
      assert.equal(account!.user_id, alice.user!.id);
      assert.match(account!.access_token_enc!, /^v1\./, "the provider's access token is sealed");
      assert.ok(new SecretBox(encryptionKey).open(account!.access_token_enc!, account!.id).length > 0);
      assert.equal(account!.provider_data.email, "Alice@Example.test");
    });

    it("logs the same person in to the same user the second time", async () => {
      const again = await loginAs("alice-0001");
      assert.equal(again.userCreated, false);
      assert.equal(again.user!.id, alice.user!.id);
      assert.notEqual(again.tokens!.sessionId, alice.tokens!.sessionId);
      const links = await rows("SELECT 1 FROM identity.oauth_accounts WHERE provider_user_id = 'alice-0001'");
      const users = await rows("SELECT 1 FROM identity.users WHERE lower(email) = 'alice@example.test'");
      assert.equal(links.length, 1);
      assert.equal(users.length, 1);
    });

    it("links an existing user whose email the provider verified", async () => {
      const { user: bob } = await usersApi.createUser({ username: "bob", email: "BOB@example.test", password: "correct horse battery staple 7" }, { bearer: admin });
      const done = await loginAs("bob-0002");
      assert.equal(done.userCreated, false);
      assert.equal(done.user!.id, bob!.id);
      assert.equal(done.user!.username, "bob");
    });

    it("turns away a linked user who may not sign in (banned), saying why", async () => {
      const bob = (await rows<{ user_id: string }>("SELECT user_id FROM identity.oauth_accounts WHERE provider_user_id = 'bob-0002'"))[0]!;
      await usersApi.banUser({ userId: bob.user_id, until: timestampFromDate(new Date(Date.now() + 3_600_000)), reason: "test" }, { bearer: admin });
      await assert.rejects(loginAs("bob-0002"), rejectsWith(status.PERMISSION_DENIED, /banned until/));
    });

    it("creates no user when the provider's auto_create_users is false, but still links verified emails", async () => {
      await oauth.createOAuthProvider({ name: "no-signup", issuer: op.issuer, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, settings: { auto_create_users: false } }, { bearer: admin });
      await assert.rejects(loginAs("carol-0004", "no-signup"), rejectsWith(status.PERMISSION_DENIED, /no account in organisation default is linked to this no-signup identity.*ask your administrator/));
      assert.equal((await rows("SELECT 1 FROM identity.users WHERE email = 'carol@example.test'")).length, 0);
      assert.equal((await loginAs("alice-0001", "no-signup")).user!.id, alice.user!.id);
    });

    it("does not link an existing user by an email the provider did not verify", async () => {
      await assert.rejects(loginAs("mallory-0003"), rejectsWith(status.FAILED_PRECONDITION, /has not verified that address/));
      assert.equal((await rows("SELECT 1 FROM identity.oauth_accounts WHERE provider_user_id = 'mallory-0003'")).length, 0);
    });

    it("authenticates at the token endpoint with client_secret_post when the provider is set so", async () => {
      await oauth.createOAuthProvider({
        name: "post", issuer: op.issuer, clientId: `${CLIENT_ID}-post`, clientSecret: CLIENT_SECRET, settings: { token_endpoint_auth_method: "client_secret_post" },
      }, { bearer: admin });
      assert.equal((await loginAs("alice-0001", "post")).user!.id, alice.user!.id);
    });

    it("refuses a state that was already used", async () => {
      const started = await oauth.startOAuthLogin({ organizationCode: "default", providerName: "local", redirectUri: REDIRECT_URI });
      const callback = await signInAtProvider(started.authorizationUrl, "alice-0001");
      const request = { state: started.state, code: callback.get("code")! };
      await oauth.completeOAuthLogin(request);
      await assert.rejects(oauth.completeOAuthLogin(request), rejectsWith(status.FAILED_PRECONDITION, /expired or was already used; start the login again/));
    });

    it("refuses a state it never issued", async () => {
      await assert.rejects(oauth.completeOAuthLogin({ state: randomBytes(32).toString("base64url"), code: "whatever" }), rejectsWith(status.FAILED_PRECONDITION, /expired or was already used/));
    });

    it("refuses a state that expired", async () => {
      const started = await oauth.startOAuthLogin({ organizationCode: "default", providerName: "local", redirectUri: REDIRECT_URI });
      const callback = await signInAtProvider(started.authorizationUrl, "alice-0001");
      await host.cache.expire(stateKey(started.state), 1);
      await new Promise((resolve) => setTimeout(resolve, 20));
      await assert.rejects(oauth.completeOAuthLogin({ state: started.state, code: callback.get("code")! }), rejectsWith(status.FAILED_PRECONDITION, /expired or was already used/));
    });

    it("refuses a code obtained in another login attempt (PKCE binds the code to its verifier)", async () => {
      const first = await oauth.startOAuthLogin({ organizationCode: "default", providerName: "local", redirectUri: REDIRECT_URI });
      const second = await oauth.startOAuthLogin({ organizationCode: "default", providerName: "local", redirectUri: REDIRECT_URI });
      const stolen = await signInAtProvider(first.authorizationUrl, "alice-0001");
      await assert.rejects(oauth.completeOAuthLogin({ state: second.state, code: stolen.get("code")! }), rejectsWith(status.UNAUTHENTICATED, /refused the authorization code: invalid_grant/));
    });

    it("refuses an ID token whose nonce is not the one this attempt sent", async () => {
      const started = await oauth.startOAuthLogin({ organizationCode: "default", providerName: "local", redirectUri: REDIRECT_URI });
      const url = new URL(started.authorizationUrl);
      url.searchParams.set("nonce", "a-nonce-from-somewhere-else");
      const callback = await signInAtProvider(url.href, "alice-0001");
      await assert.rejects(oauth.completeOAuthLogin({ state: started.state, code: callback.get("code")! }), rejectsWith(status.UNAUTHENTICATED, /ID token was rejected: its nonce does not match/));
    });

    it("refuses an ID token whose signature was tampered with", async () => {
      await oauth.createOAuthProvider({ name: "tampered", issuer: op.issuer, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, tokenEndpoint: tokenProxy.url }, { bearer: admin });
      await assert.rejects(loginAs("alice-0001", "tampered"), rejectsWith(status.UNAUTHENTICATED, /ID token was rejected: its signature does not verify/));
    });

    it("says UNAUTHENTICATED when the provider rejects the client secret, without echoing it", async () => {
      const wrong = `wrong-${randomBytes(8).toString("hex")}`;
      await oauth.createOAuthProvider({ name: "wrong-secret", issuer: op.issuer, clientId: CLIENT_ID, clientSecret: wrong }, { bearer: admin });
      await assert.rejects(loginAs("alice-0001", "wrong-secret"), (err: unknown) =>
        rejectsWith(status.UNAUTHENTICATED, /invalid_client.*check the provider's client id and secret/)(err) && !(err as Error).message.includes(wrong));
    });

    it("says UNAVAILABLE when the provider cannot be reached", async () => {
      const down = `http://127.0.0.1:${await freePort()}/token`;
      await oauth.createOAuthProvider({ name: "down", issuer: op.issuer, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, tokenEndpoint: down }, { bearer: admin });
      await assert.rejects(loginAs("alice-0001", "down"), rejectsWith(status.UNAVAILABLE, /could not be reached for the token request/));
    });

    it("checks Start's input: fields, organisation, provider, allowed redirect URIs", async () => {
      const start = (change: Record<string, string>) => oauth.startOAuthLogin({ organizationCode: "default", providerName: "local", redirectUri: REDIRECT_URI, ...change });
      await assert.rejects(start({ redirectUri: "" }), rejectsWith(status.INVALID_ARGUMENT, /^redirect_uri: is required/));
      await assert.rejects(start({ redirectUri: "callback" }), rejectsWith(status.INVALID_ARGUMENT, /^redirect_uri: .* is not an absolute URL/));
      await assert.rejects(start({ redirectUri: "http://127.0.0.1:8765/elsewhere" }), rejectsWith(status.INVALID_ARGUMENT, /^redirect_uri: .*not an allowed redirect URI/));
      await assert.rejects(start({ providerName: "" }), rejectsWith(status.INVALID_ARGUMENT, /^provider_name:/));
      await assert.rejects(start({ providerName: "nope" }), rejectsWith(status.NOT_FOUND, /OAuth provider "nope"/));
      await assert.rejects(start({ organizationCode: "no-such-org" }), rejectsWith(status.NOT_FOUND, /organisation no-such-org/));
      await assert.rejects(oauth.completeOAuthLogin({ state: "", code: "x" }), rejectsWith(status.INVALID_ARGUMENT, /^state: is required/));
    });

    it("lets only callers with configs rights manage providers", async () => {
      const asAlice = { bearer: alice.tokens!.accessToken };
      await assert.rejects(oauth.listOAuthProviders({}, asAlice), rejectsWith(status.PERMISSION_DENIED));
      await assert.rejects(oauth.createOAuthProvider({ name: "mine", issuer: op.issuer, clientId: "x", clientSecret: "y" }, asAlice), rejectsWith(status.PERMISSION_DENIED));
      await assert.rejects(oauth.deleteOAuthProvider({ providerId }, asAlice), rejectsWith(status.PERMISSION_DENIED));
    });

    it("deletes a provider with its links; a login begun through it cannot complete", async () => {
      const { provider } = await oauth.createOAuthProvider({ name: "temporary", issuer: op.issuer, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET }, { bearer: admin });
      const linked = await loginAs("alice-0001", "temporary");
      assert.equal(linked.user!.id, alice.user!.id, "a second provider links to the same user by verified email");
      const pending = await oauth.startOAuthLogin({ organizationCode: "default", providerName: "temporary", redirectUri: REDIRECT_URI });
      const callback = await signInAtProvider(pending.authorizationUrl, "alice-0001");

      await oauth.deleteOAuthProvider({ providerId: provider!.id }, { bearer: admin });
      assert.equal((await rows("SELECT 1 FROM identity.oauth_accounts WHERE provider_id = $1", [provider!.id])).length, 0);
      assert.ok(!(await oauth.listOAuthProviders({}, { bearer: admin })).providers.some((p) => p.name === "temporary"));
      await assert.rejects(oauth.completeOAuthLogin({ state: pending.state, code: callback.get("code")! }), rejectsWith(status.FAILED_PRECONDITION, /was removed; start the login again/));
      await assert.rejects(oauth.deleteOAuthProvider({ providerId: provider!.id }, { bearer: admin }), rejectsWith(status.NOT_FOUND));
    });

    it("limits how many logins one address may start per minute", async () => {
      const from = { metadata: { "x-forwarded-for": `198.51.100.${1 + randomBytes(1)[0]! % 250}, 10.0.0.1` } };
      const start = () => oauth.startOAuthLogin({ organizationCode: "default", providerName: "local", redirectUri: REDIRECT_URI }, from);
      for (let i = 0; i < STARTS_PER_IP_PER_MINUTE; i++) await start();
      await assert.rejects(start(), rejectsWith(status.RESOURCE_EXHAUSTED, /too many logins started from this address; try again in \d+ s/));
      await oauth.startOAuthLogin({ organizationCode: "default", providerName: "local", redirectUri: REDIRECT_URI }); // other addresses are not affected
    });

    it("audits logins, refusals and new links, never with a secret, code or token", async () => {
      const events: AuditEvent[] = [];
      const consumer = host.bus.consume({ stream: "AUDIT", durable: `oauth-test-${randomBytes(4).toString("hex")}` }, async (messages) => {
        for (const m of messages) events.push(fromBinary(AuditEventSchema, m.data));
      });
      try {
        const oauthLogins = () => events.filter((e) => e.action === "auth.login" && e.detail?.method === "oauth");
        for (let waited = 0; !events.some((e) => e.action === "oauth_provider.delete") && waited < 5_000; waited += 50) await new Promise((r) => setTimeout(r, 50));
        const outcomes = new Set(oauthLogins().map((e) => e.outcome));
        assert.equal(outcomes.size, 3, "SUCCESS, FAILURE (provider said no) and DENIED (banned, unverified email)");
        const success = oauthLogins().find((e) => e.actorId === alice.user!.id && e.entityId === alice.tokens!.sessionId);
        assert.ok(success, "alice's first login is audited with its session");
        assert.deepEqual(success.detail, { method: "oauth", provider: "local", userCreated: true });
        assert.ok(events.some((e) => e.action === "oauth_account.link" && e.actorId === alice.user!.id && e.detail?.matchedBy === "new_user"));
        assert.ok(events.some((e) => e.action === "oauth_provider.create" && e.detail?.name === "local"));
        const text = events.map((e) => toJsonString(AuditEventSchema, e)).join("\n");
        for (const secret of secrets) assert.ok(!text.includes(secret), "an audit event carries a secret");
      } finally {
        await consumer.stop();
      }
    });
  });
});

describe("OAuth building blocks", () => {
  it("computes the S256 PKCE challenge of RFC 7636's example", () => {
    assert.equal(codeChallenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"), "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
  });

  it("computes at_hash as OpenID Connect Core's example", () => {
    // Core, Appendix A.3 / A.4: access token and at_hash of the RS256 examples.
    assert.equal(accessTokenHash("jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y", "RS256"), "77QmUPtjPfzWtF2AnpK9RQ");
  });

  it("derives usernames the user rules accept", () => {
    assert.equal(usernameBase("alice"), "alice");
    assert.equal(usernameBase("Émile.Zola+news"), "mile.Zolanews");
    assert.equal(usernameBase("--x--"), "userx");
    assert.equal(usernameBase("a".repeat(80)).length, 56);
  });
});
