import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { status } from "@grpc/grpc-js";
import { createLocalJWKSet } from "jose";
import { QueryTypes } from "sequelize";
import { AuthService } from "../../gen/rollcall/identity/v1/auth_pb.js";
import { UserService } from "../../gen/rollcall/identity/v1/user_pb.js";
import { AppError } from "../../services/runtime/errors.js";
import { TokenVerifier } from "../../services/runtime/auth/token-verifier.js";
import { ADMIN_EMAIL, ADMIN_PASSWORD, startIdentityMesh, type IdentityMesh } from "./mesh-fixture.js";

const code = (c: status) => (err: unknown) => {
  assert.ok(err instanceof AppError, String(err));
  assert.equal(status[err.code], status[c], err.message);
  return true;
};

describe("identity: login, tokens and sessions", function () {
  this.timeout(60_000);
  let mesh: IdentityMesh;
  let admin: string;
  const member = { username: "grace", email: "Grace.Hopper@example.com", password: "cobol-Compiler-1959" };

  before(async () => {
    mesh = await startIdentityMesh({ ROLLCALL_LOCKOUT_THRESHOLD: "3", ROLLCALL_ARGON2_TIME_COST: "3" });
    admin = await mesh.adminToken();
    await mesh.client(UserService, admin).createUser({ ...member, firstName: "Grace", lastName: "Hopper" });
  });
  after(() => mesh?.stop());

  it("logs in by email (any case) or username, with a 15-minute EdDSA access token and a 7-day refresh token", async () => {
    for (const login of ["grace.hopper@EXAMPLE.com", "grace"]) {
      const res = await mesh.login(login, member.password);
      const [header, payload] = res.tokens!.accessToken.split(".").slice(0, 2).map((p) => JSON.parse(Buffer.from(p, "base64url").toString()));
      assert.equal(header.alg, "EdDSA");
      assert.equal(payload.exp - payload.iat, 900);
      assert.deepEqual(payload.roles, ["USER"]);
      assert.equal(payload.sub, res.user!.id);
      assert.equal(payload.sid, res.tokens!.sessionId);
      assert.ok(payload.jti);
      const refreshDays = (Number(res.tokens!.refreshExpiresAt!.seconds) * 1000 - Date.now()) / 86_400_000;
      assert.ok(refreshDays > 6.99 && refreshDays <= 7, String(refreshDays));
    }
  });

  it("answers a wrong password, an unknown user and an unknown organisation alike", async () => {
    const attempts = [
      mesh.login("grace", "not-the-password-1"),
      mesh.login("nobody@example.com", member.password),
      mesh.login("grace", member.password, "no-such-org"),
    ];
    for (const attempt of attempts) {
      await assert.rejects(attempt, (err: AppError) => err.code === status.UNAUTHENTICATED && err.message === "the organisation, login or password is not correct");
    }
  });

  it("locks an account after repeated failures, saying when to retry, and a success clears it", async () => {
    await mesh.client(UserService, admin).createUser({ username: "target", email: "target@example.com", password: "Lock-test-password-42" });
    for (let i = 0; i < 3; i++) await assert.rejects(mesh.login("target", `wrong-password-${i}x`), code(status.UNAUTHENTICATED));
    await assert.rejects(mesh.login("target", "Lock-test-password-42"), (err: AppError) => {
      assert.equal(err.code, status.RESOURCE_EXHAUSTED);
      assert.match(err.message, /too many failed logins; try again in \d+ s/);
      assert.ok(Number(err.details.retryAfterMs) > 0 && Number(err.details.retryAfterMs) <= 1000);
      return true;
    });
    await sleep(1100);
    await mesh.login("target", "Lock-test-password-42");
    await assert.rejects(mesh.login("target", "wrong-password-x"), code(status.UNAUTHENTICATED));
  });

  it("rotates the refresh token on every use", async () => {
    const first = (await mesh.login("grace", member.password)).tokens!;
    const second = (await mesh.client(AuthService).refresh({ refreshToken: first.refreshToken })).tokens!;
    assert.notEqual(second.refreshToken, first.refreshToken);
    assert.equal(second.sessionId, first.sessionId);
    await mesh.client(UserService, second.accessToken).getUser({});
  });

  it("revokes the whole session when an already-used refresh token comes back (theft)", async () => {
    const first = (await mesh.login("grace", member.password, "default")).tokens!;
    const second = (await mesh.client(AuthService).refresh({ refreshToken: first.refreshToken })).tokens!;
    await assert.rejects(mesh.client(AuthService).refresh({ refreshToken: first.refreshToken }), (err: AppError) =>
      err.code === status.UNAUTHENTICATED && /already used/.test(err.message));
    await assert.rejects(mesh.client(AuthService).refresh({ refreshToken: second.refreshToken }), code(status.UNAUTHENTICATED));
    await assert.rejects(mesh.client(UserService, second.accessToken).getUser({}), (err: AppError) =>
      err.code === status.UNAUTHENTICATED && /revoked/.test(err.message));
  });

  it("rejects an unknown or empty refresh token", async () => {
    await assert.rejects(mesh.client(AuthService).refresh({ refreshToken: "forged" }), code(status.UNAUTHENTICATED));
    await assert.rejects(mesh.client(AuthService).refresh({ refreshToken: "" }), code(status.UNAUTHENTICATED));
  });

  it("refuses an expired refresh token, and lets only one of two racing refreshes of a token win", async () => {
    const refresh = (refreshToken: string) => mesh.client(AuthService).refresh({ refreshToken });
    const expiring = (await mesh.login("grace", member.password)).tokens!;
    await mesh.host.db.withSystem((tx) => mesh.host.db.sequelize.query(
      "UPDATE identity.sessions SET refresh_expires_at = now() - interval '1 second' WHERE family_id = $1", { bind: [expiring.sessionId], transaction: tx }));
    await assert.rejects(refresh(expiring.refreshToken), (err: AppError) => err.code === status.UNAUTHENTICATED && /has expired/.test(err.message));

    const raced = (await mesh.login("grace", member.password)).tokens!;
    const outcomes = await Promise.allSettled([refresh(raced.refreshToken), refresh(raced.refreshToken)]);
    const won = outcomes.flatMap((o) => (o.status === "fulfilled" ? [o.value.tokens!] : []));
    const lost = outcomes.flatMap((o) => (o.status === "rejected" ? [o.reason as AppError] : []));
    assert.equal(won.length, 1, "exactly one rotation of a token succeeds");
    assert.match(lost[0]!.message, /already used/);
    await assert.rejects(refresh(won[0]!.refreshToken), code(status.UNAUTHENTICATED), "the reuse revoked the whole session");
  });

  it("logs out: the access token stops working at once, the refresh token too", async () => {
    const tokens = (await mesh.login("grace", member.password)).tokens!;
    await mesh.client(AuthService, tokens.accessToken).logout({});
    await assert.rejects(mesh.client(UserService, tokens.accessToken).getUser({}), code(status.UNAUTHENTICATED));
    await assert.rejects(mesh.client(AuthService).refresh({ refreshToken: tokens.refreshToken }), code(status.UNAUTHENTICATED));
  });

  it("keeps one session per device, lists sessions, and revokes one or all", async () => {
    const onPhone = (await mesh.client(AuthService).login({ organizationCode: "default", login: "grace", password: member.password, deviceId: "phone" })).tokens!;
    const onPhoneAgain = (await mesh.client(AuthService).login({ organizationCode: "default", login: "grace", password: member.password, deviceId: "phone" })).tokens!;
    await assert.rejects(mesh.client(AuthService).refresh({ refreshToken: onPhone.refreshToken }), code(status.UNAUTHENTICATED));
    const laptop = (await mesh.client(AuthService).login({ organizationCode: "default", login: "grace", password: member.password, deviceId: "laptop" })).tokens!;
    const auth = mesh.client(AuthService, laptop.accessToken);
    const listed = await auth.listSessions({});
    const ids = listed.sessions.map((s) => s.id);
    assert.ok(ids.includes(onPhoneAgain.sessionId) && ids.includes(laptop.sessionId));
    assert.ok(!ids.includes(onPhone.sessionId), "the replaced session is gone");
    assert.equal(listed.sessions.find((s) => s.id === laptop.sessionId)!.current, true);

    await auth.revokeSession({ sessionId: onPhoneAgain.sessionId, reason: "lost phone" });
    await assert.rejects(mesh.client(UserService, onPhoneAgain.accessToken).getUser({}), code(status.UNAUTHENTICATED));
    const { revokedCount } = await auth.revokeAllSessions({ keepCurrent: true });
    assert.ok(revokedCount >= 1);
    await mesh.client(UserService, laptop.accessToken).getUser({});
  });

  it("does not let a user revoke another user's sessions without users:update", async () => {
    const grace = (await mesh.login("grace", member.password)).tokens!;
    const adminSessions = await mesh.client(AuthService, admin).listSessions({});
    await assert.rejects(mesh.client(AuthService, grace.accessToken).revokeSession({ sessionId: adminSessions.sessions[0]!.id }), code(status.PERMISSION_DENIED));
  });

  it("publishes the JWKS (RPC and /.well-known/jwks.json) that verifies its tokens", async () => {
    const rpc = JSON.parse((await mesh.client(AuthService).getJwks({})).jwksJson);
    const http = await (await fetch(`http://127.0.0.1:${mesh.host.adminPort}/.well-known/jwks.json`)).json();
    assert.deepEqual(http, rpc);
    assert.ok(rpc.keys.every((k: { d?: string }) => k.d === undefined));
    const token = (await mesh.login(ADMIN_EMAIL, ADMIN_PASSWORD)).tokens!.accessToken;
    const caller = await new TokenVerifier({ issuer: "rollcall", audience: "rollcall", keys: createLocalJWKSet(rpc) }).verify(token);
    assert.equal(caller.platformStaff, true);
  });

  it("upgrades a hash made with older argon2 parameters at the next successful login", async () => {
    const { user } = await mesh.client(UserService, admin).createUser({ username: "legacy", email: "legacy@example.com", password: "Old-params-password-1" });
    const db = mesh.host.db;
    // Made by the `argon2` package (0.45), which identity used before @node-rs/argon2: stored hashes keep working.
    const weaker = "$argon2id$v=19$m=19456,p=1,t=2$H/w98vkB6JXvz0TG7o2z2A$o2SWPxD457wkB3YMyhGE8dxWi/O/kWuh9cYx874fxkU";
    const hashOf = () => db.withTenant(user!.organizationId, (tx) => db.sequelize.query<{ password_hash: string }>("SELECT password_hash FROM identity.users WHERE id = $1", { bind: [user!.id], transaction: tx, type: QueryTypes.SELECT }));
    await db.withTenant(user!.organizationId, (tx) => db.sequelize.query("UPDATE identity.users SET password_hash = $1 WHERE id = $2", { bind: [weaker, user!.id], transaction: tx }));
    assert.match((await hashOf())[0]!.password_hash, /t=2/);
    await mesh.login("legacy", "Old-params-password-1");
    const upgraded = (await hashOf())[0]!.password_hash;
    assert.match(upgraded, /^\$argon2id\$v=19\$m=19456,t=3,p=1\$/);
    await mesh.login("legacy", "Old-params-password-1");
  });

  it("changes a password: old one checked, policy applied, other sessions ended on request", async () => {
    await mesh.client(UserService, admin).createUser({ username: "linus", email: "linus@example.com", password: "Original-password-1" });
    const elsewhere = (await mesh.login("linus", "Original-password-1")).tokens!;
    const here = (await mesh.login("linus", "Original-password-1")).tokens!;
    const auth = mesh.client(AuthService, here.accessToken);
    await assert.rejects(auth.changePassword({ oldPassword: "wrong-password-00", newPassword: "Another-password-2" }), code(status.UNAUTHENTICATED));
    await assert.rejects(auth.changePassword({ oldPassword: "Original-password-1", newPassword: "short" }), (err: AppError) =>
      err.code === status.INVALID_ARGUMENT && /^new_password: must be at least 12/.test(err.message));
    await auth.changePassword({ oldPassword: "Original-password-1", newPassword: "Another-password-2", revokeOtherSessions: true });
    await assert.rejects(mesh.client(UserService, elsewhere.accessToken).getUser({}), code(status.UNAUTHENTICATED));
    await mesh.client(UserService, here.accessToken).getUser({});
    await mesh.login("linus", "Another-password-2");
    await assert.rejects(mesh.login("linus", "Original-password-1"), code(status.UNAUTHENTICATED));
  });
});
