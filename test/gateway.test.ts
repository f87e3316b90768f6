import assert from "node:assert/strict";
import { Code, ConnectError, createClient as createConnectClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { AuthzService } from "../gen/rollcall/authz/v1/authz_pb.js";
import { AuditService } from "../gen/rollcall/audit/v1/audit_pb.js";
import { AuthService } from "../gen/rollcall/identity/v1/auth_pb.js";
import { Gateway } from "../services/gateway/gateway.js";
import { createLogger } from "../services/runtime/logger.js";
import { ORG, startServer } from "./support/rpc-fixture.js";
import { newSigner, serveJwks, signToken } from "./support/tokens.js";
import { closedPort } from "./support/ports.js";

describe("gateway: Connect and gRPC-Web in front of the gRPC services", function () {
  this.timeout(30_000);
  let fixture: Awaited<ReturnType<typeof startServer>>;
  let jwks: Awaited<ReturnType<typeof serveJwks>>;
  let gateway: Gateway;
  let baseUrl: string;
  let token: string;

  before(async () => {
    const signer = await newSigner();
    jwks = await serveJwks([signer.publicJwk]);
    fixture = await startServer(jwks.url);
    token = await signToken(signer, { sub: "user-9", org: ORG, roles: ["ADMIN"] });
    gateway = new Gateway({
      routes: [AuthzService, AuditService, AuthService].map((service) => ({ service, target: fixture.target })),
      maxMessageBytes: 1024 * 1024,
      logger: createLogger("silent"),
    });
    baseUrl = `http://127.0.0.1:${await gateway.listen("127.0.0.1", 0)}`;
  });
  after(async () => {
    await gateway.close(500);
    await fixture.server.shutdown(1000);
    await fixture.admin.close();
    await jwks.close();
  });

  it("answers plain JSON over HTTP/1.1 (what curl sends), forwarding the bearer token", async () => {
    const res = await fetch(`${baseUrl}/rollcall.authz.v1.AuthzService/Check`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
      body: JSON.stringify({ resource: "users", action: "read" }),
    });
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { allowed: true, reason: `caller user-9 of ${ORG}`, decidedByRole: "ADMIN" });
  });

  it("carries the service's error code and message to the Connect client", async () => {
    const res = await fetch(`${baseUrl}/rollcall.authz.v1.AuthzService/Check`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
      body: JSON.stringify({ resource: "missing", subjectId: "u1" }),
    });
    assert.equal(res.status, 404);
    assert.deepEqual(await res.json(), { code: "not_found", message: "role u1 was not found" });
    const anonymous = await fetch(`${baseUrl}/rollcall.authz.v1.AuthzService/Check`, {
      method: "POST", headers: { "content-type": "application/json" }, body: "{}",
    });
    assert.equal(anonymous.status, 401);
  });

  it("serves the Connect protocol to a Connect client", async () => {
    const client = createConnectClient(AuthzService, createConnectTransport({ baseUrl, httpVersion: "1.1" }));
    const res = await client.check({ resource: "x", action: "read" }, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(res.allowed, true);
    await assert.rejects(client.check({ resource: "bad" }, { headers: { authorization: `Bearer ${token}` } }), (err: unknown) => {
      assert.ok(err instanceof ConnectError);
      assert.equal(err.code, Code.InvalidArgument);
      assert.equal(err.rawMessage, "resource: must be 1–64 characters");
      return true;
    });
  });

  it("serves gRPC-Web, including server streams, to a gRPC-Web client", async () => {
    const transport = createGrpcWebTransport({ baseUrl, httpVersion: "1.1" });
    const jwksRes = await createConnectClient(AuthService, transport).getJwks({});
    assert.equal(jwksRes.jwksJson, '{"keys":[]}');
    const cursors: string[] = [];
    for await (const m of createConnectClient(AuditService, transport).subscribeNotifications({}, { headers: { authorization: `Bearer ${token}` } })) {
      cursors.push(m.cursor);
      if (cursors.length === 3) break;
    }
    assert.deepEqual(cursors, ["0", "1", "2"]);
  });

  it("tells a public client which service is down, never its internal address", async () => {
    const closed = await closedPort();
    const down = new Gateway({
      routes: [{ service: AuthzService, target: `127.0.0.1:${closed}` }],
      maxMessageBytes: 1024 * 1024,
      logger: createLogger("silent"),
    });
    const url = `http://127.0.0.1:${await down.listen("127.0.0.1", 0)}`;
    try {
      const res = await fetch(`${url}/rollcall.authz.v1.AuthzService/Check`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
        body: JSON.stringify({ resource: "users", action: "read" }),
      });
      assert.equal(res.status, 503);
      const body = (await res.json()) as { code: string; message: string };
      assert.deepEqual(body, { code: "unavailable", message: "the authz service is unavailable; retry shortly" });
      assert.doesNotMatch(JSON.stringify(body), new RegExp(`127\\.0\\.0\\.1|${closed}`));
    } finally {
      await down.close(500);
    }
  });

  it("answers 404 with a hint for an unknown path", async () => {
    const res = await fetch(`${baseUrl}/nope`, { method: "POST" });
    assert.equal(res.status, 404);
    assert.match(((await res.json()) as { message: string }).message, /AuthService\/Login/);
  });
});
