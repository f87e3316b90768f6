import assert from "node:assert/strict";
import { status } from "@grpc/grpc-js";
import { AuthService } from "../../gen/rollcall/identity/v1/auth_pb.js";
import { UserService } from "../../gen/rollcall/identity/v1/user_pb.js";
import { Sql } from "../../services/runtime/db/index.js";
import { AppError } from "../../services/runtime/errors.js";
import { startIdentityMesh, type IdentityMesh } from "./mesh-fixture.js";

/**
 * A refresh rotates the token in a statement of its own; refusing an account that may no longer
 * sign in then takes a second transaction. Both must leave the session as one transaction did.
 */
describe("identity: refresh of an account that may no longer sign in", function () {
  this.timeout(60_000);
  let mesh: IdentityMesh;
  const member = { username: "ada", email: "ada@example.com", password: "analytical-Engine-1843" };

  before(async () => {
    mesh = await startIdentityMesh();
    const admin = await mesh.adminToken();
    await mesh.client(UserService, admin).createUser(member);
  });
  after(() => mesh?.stop());

  it("is refused, and the whole session is revoked: successor, refresh token and access token", async () => {
    const tokens = (await mesh.login("ada", member.password)).tokens!;
    const db = mesh.host.db;
    const sql = new Sql(db.sequelize);
    // Banned behind identity's back, so that the session rows are still live when the refresh comes.
    await db.withSystem((tx) => sql.execute(tx, "UPDATE identity.users SET ban_until = now() + interval '1 day' WHERE username = $1", [member.username]));

    await assert.rejects(mesh.client(AuthService).refresh({ refreshToken: tokens.refreshToken }), (err: unknown) =>
      err instanceof AppError && err.code === status.UNAUTHENTICATED && /banned until/.test(err.message));

    const rows = await db.withSystem((tx) => sql.rows<{ revoked_reason: string | null }>(tx,
      "SELECT revoked_reason FROM identity.sessions WHERE family_id = $1 ORDER BY created_at", [tokens.sessionId]));
    assert.deepEqual(rows.map((r) => r.revoked_reason), ["rotated", "revoked"], "the successor the rotation made is revoked too");
    await assert.rejects(mesh.client(UserService, tokens.accessToken).getUser({}), (err: unknown) =>
      err instanceof AppError && err.code === status.UNAUTHENTICATED);
    await assert.rejects(mesh.client(AuthService).refresh({ refreshToken: tokens.refreshToken }), (err: unknown) =>
      err instanceof AppError && err.code === status.UNAUTHENTICATED);
  });
});
