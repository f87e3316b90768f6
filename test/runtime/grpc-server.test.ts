import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { status } from "@grpc/grpc-js";
import { AuthzService } from "../../gen/rollcall/authz/v1/authz_pb.js";
import { AuthService } from "../../gen/rollcall/identity/v1/auth_pb.js";
import { AuditService } from "../../gen/rollcall/audit/v1/audit_pb.js";
import { VisionService } from "../../gen/rollcall/vision/v1/vision_pb.js";
import { createClient } from "../../services/runtime/grpc/client.js";
import { AppError } from "../../services/runtime/errors.js";
import { ORG, startServer } from "../support/rpc-fixture.js";
import { newSigner, serveJwks, signToken, type TestSigner } from "../support/tokens.js";
import { bufCurl } from "../support/buf.js";
import { parseExposition } from "../support/metrics-text.js";
import { closedPort } from "../support/ports.js";

describe("gRPC runtime: server, client, auth, errors, metrics", function () {
  this.timeout(30_000);
  let signer: TestSigner;
  let jwks: Awaited<ReturnType<typeof serveJwks>>;
  let fixture: Awaited<ReturnType<typeof startServer>>;
  let token: string;

  before(async () => {
    signer = await newSigner();
    jwks = await serveJwks([signer.publicJwk]);
    fixture = await startServer(jwks.url);
    token = await signToken(signer, { sub: "user-7", org: ORG, roles: ["OPERATOR"] });
  });
  after(async () => {
    await fixture.server.shutdown(1000);
    await fixture.admin.close();
    await jwks.close();
  });

  const authz = () => createClient(AuthzService, fixture.target, { bearer: () => token });
  const expectStatus = (promise: Promise<unknown>, code: status, pattern?: RegExp) =>
    assert.rejects(promise, (err: unknown) => {
      assert.ok(err instanceof AppError, `expected AppError, got ${String(err)}`);
      assert.equal(status[err.code], status[code], err.message);
      if (pattern) assert.match(err.message, pattern);
      return true;
    });

  describe("the auth interceptor", () => {
    it("puts the verified caller in the context", async () => {
      const res = await authz().check({ resource: "x", action: "read" });
      assert.equal(res.reason, `caller user-7 of ${ORG}`);
      assert.equal(res.decidedByRole, "OPERATOR");
    });

    it("rejects a call without a token", async () => {
      const client = createClient(AuthzService, fixture.target);
      await expectStatus(client.check({ resource: "x" }), status.UNAUTHENTICATED, /needs an access token/);
    });

    it("rejects an expired token", async () => {
      const expired = await signToken(signer, { org: ORG, expiresInSec: -30 });
      await expectStatus(authz().check({ resource: "x" }, { bearer: expired }), status.UNAUTHENTICATED, /expired/);
    });

    it("rejects a token signed with the wrong key", async () => {
      const forged = await signToken(await newSigner(signer.kid), { org: ORG });
      await expectStatus(authz().check({ resource: "x" }, { bearer: forged }), status.UNAUTHENTICATED, /signature/);
    });

    it("rejects a malformed authorization header", async () => {
      const client = createClient(AuthzService, fixture.target);
      await expectStatus(client.check({ resource: "x" }, { metadata: { authorization: "Basic abc" } }), status.UNAUTHENTICATED, /Bearer/);
    });

    it("lets public methods through without a token", async () => {
      const res = await createClient(AuthService, fixture.target).getJwks({});
      assert.equal(res.jwksJson, '{"keys":[]}');
    });
  });

  describe("the error mapper", () => {
    it("keeps a domain error's code and message, with details as trailers", async () => {
      await expectStatus(authz().check({ resource: "missing", subjectId: "u1" }), status.NOT_FOUND, /^role u1 was not found$/);
      await expectStatus(authz().check({ resource: "bad" }), status.INVALID_ARGUMENT, /^resource: must be 1–64 characters$/);
      await assert.rejects(authz().check({ resource: "busy" }), (err: AppError) => {
        assert.equal(err.code, status.RESOURCE_EXHAUSTED);
        assert.equal(err.details.retryAfterMs, "1500");
        return true;
      });
    });

    it("answers INTERNAL with a request id and no internals for an unexpected error", async () => {
      await assert.rejects(authz().check({ resource: "boom" }, { metadata: { "x-request-id": "req-123" } }), (err: AppError) => {
        assert.equal(err.code, status.INTERNAL);
        assert.equal(err.message, "internal error (request id req-123)");
        assert.doesNotMatch(err.message, /hunter2|10\.0\.0\.7/);
        return true;
      });
    });

    it("answers UNIMPLEMENTED, honestly, for a method without a handler", async () => {
      await expectStatus(createClient(AuthzService, fixture.target, { bearer: () => token }).batchCheck({}), status.UNIMPLEMENTED, /rollcall\.authz\.v1\.AuthzService\/BatchCheck is not implemented yet/);
    });

    it("refuses a message over the size limit with RESOURCE_EXHAUSTED", async () => {
      await expectStatus(authz().check({ resource: "x", action: "a".repeat(2 * 1024 * 1024) }), status.RESOURCE_EXHAUSTED);
    });
  });

  describe("deadlines and cancellation", () => {
    it("ends a call past its deadline with DEADLINE_EXCEEDED and aborts the handler's signal", async () => {
      fixture.seen.signalAborted = false;
      await expectStatus(authz().check({ resource: "wait-for-abort" }, { timeoutMs: 150 }), status.DEADLINE_EXCEEDED);
      await sleep(50);
      assert.equal(fixture.seen.signalAborted, true);
    });

    it("names the service, never its address, when a call gets no answer (the address stays in the cause)", async () => {
      await assert.rejects(authz().check({ resource: "wait-for-abort" }, { timeoutMs: 150 }), (err: AppError) => {
        assert.equal(err.code, status.DEADLINE_EXCEEDED);
        assert.equal(err.message, "the authz service did not answer before the deadline; retry, or allow more time");
        return true;
      });
      const closed = await closedPort();
      const unreachable = createClient(AuthzService, `127.0.0.1:${closed}`, { bearer: () => token });
      try {
        await assert.rejects(unreachable.check({ resource: "x" }, { timeoutMs: 5_000 }), (err: AppError) => {
          assert.equal(err.code, status.UNAVAILABLE);
          assert.equal(err.message, "the authz service is unavailable; retry shortly");
          assert.ok(err.cause instanceof Error);
          assert.match(err.cause.message, new RegExp(`127\\.0\\.0\\.1:${closed}`));
          return true;
        });
      } finally {
        unreachable.close();
      }
    });

    it("treats a deadline weeks away as a deadline, not as already passed (timers stop at 24.8 days)", async () => {
      const res = await authz().check({ resource: "slow", action: "20" }, { timeoutMs: 30 * 24 * 3_600_000 });
      assert.equal(res.allowed, true);
    });

    it("completes a call that finishes within its deadline", async () => {
      const res = await authz().check({ resource: "slow", action: "20" }, { timeoutMs: 2000 });
      assert.equal(res.allowed, true);
    });
  });

  describe("streams", () => {
    it("serves a server stream and stops it when the client breaks off", async () => {
      const audit = createClient(AuditService, fixture.target, { bearer: () => token });
      const cursors: string[] = [];
      for await (const message of audit.subscribeNotifications({})) {
        cursors.push(message.cursor);
        if (cursors.length === 3) break;
      }
      assert.deepEqual(cursors, ["0", "1", "2"]);
    });

    it("serves a bidirectional stream in order", async () => {
      const vision = createClient(VisionService, fixture.target, { bearer: () => token });
      async function* frames() {
        for (let i = 1n; i <= 5n; i++) yield { frame: { frameId: `f${i}`, sequence: i } };
      }
      const out: string[] = [];
      for await (const r of vision.streamFrames(frames())) out.push(`${r.frameId}:${r.sequence}`);
      assert.deepEqual(out, ["f1:1", "f2:2", "f3:3", "f4:4", "f5:5"]);
    });
  });

  describe("health, reflection and metrics (with buf curl, an independent gRPC client)", () => {
    it("answers grpc.health.v1 Check as SERVING, overall and per service", async () => {
      for (const service of ["", "rollcall.authz.v1.AuthzService"]) {
        const res = await bufCurl(["--data", JSON.stringify({ service }), `http://${fixture.target}/grpc.health.v1.Health/Check`]);
        assert.equal(res.code, 0, res.stderr);
        assert.deepEqual(JSON.parse(res.stdout), { status: "SERVING" });
      }
    });

    it("lists the services through server reflection", async () => {
      const res = await bufCurl(["--list-services", `http://${fixture.target}`]);
      assert.equal(res.code, 0, res.stderr);
      const services = res.stdout.trim().split("\n");
      for (const name of ["rollcall.authz.v1.AuthzService", "rollcall.identity.v1.AuthService", "grpc.health.v1.Health"]) {
        assert.ok(services.includes(name), `${name} missing from ${services.join(", ")}`);
      }
    });

    it("calls a method described only by reflection", async () => {
      const res = await bufCurl(["--header", `authorization: Bearer ${token}`, "--data", '{"resource":"x","action":"read"}', `http://${fixture.target}/rollcall.authz.v1.AuthzService/Check`]);
      assert.equal(res.code, 0, res.stderr);
      assert.equal(JSON.parse(res.stdout).allowed, true);
    });

    it("exposes per-method counts by code and a latency histogram in valid exposition format", async () => {
      const text = await (await fetch(`http://127.0.0.1:${fixture.adminPort}/metrics`)).text();
      const samples = parseExposition(text);
      const handled = (code: string) => samples.find((s) => s.name === "grpc_server_handled_total" && s.labels.grpc_method === "Check" && s.labels.grpc_code === code);
      assert.ok((handled("OK")?.value ?? 0) >= 3, "OK count");
      assert.ok((handled("NOT_FOUND")?.value ?? 0) >= 1, "NOT_FOUND count");
      assert.ok((handled("UNAUTHENTICATED")?.value ?? 0) >= 3, "UNAUTHENTICATED count");
      assert.ok(samples.some((s) => s.name === "grpc_server_handling_seconds_bucket" && s.labels.grpc_method === "Check" && s.labels.le === "+Inf"));
      assert.ok(samples.some((s) => s.name === "process_cpu_seconds_total"));
    });

    it("answers /healthz and /readyz", async () => {
      assert.equal((await fetch(`http://127.0.0.1:${fixture.adminPort}/healthz`)).status, 200);
      const ready = await fetch(`http://127.0.0.1:${fixture.adminPort}/readyz`);
      assert.equal(ready.status, 200);
    });
  });
});

describe("gRPC runtime: graceful shutdown", function () {
  this.timeout(30_000);

  it("finishes a unary call in flight, ends streams with UNAVAILABLE, and refuses new calls", async () => {
    const signer = await newSigner();
    const jwks = await serveJwks([signer.publicJwk]);
    const fixture = await startServer(jwks.url);
    const token = await signToken(signer, { org: ORG });
    try {
      const authz = createClient(AuthzService, fixture.target, { bearer: () => token });
      const audit = createClient(AuditService, fixture.target, { bearer: () => token });
      const inFlight = authz.check({ resource: "slow", action: "400" });
      const streamEnd = (async () => {
        for await (const _ of audit.subscribeNotifications({}));
      })().then(() => undefined, (err: unknown) => err);
      await sleep(100);
      const shutdown = fixture.server.shutdown(5_000);
      const res = await inFlight;
      assert.equal(res.allowed, true, "the call in flight completed");
      const streamError = await streamEnd;
      assert.ok(streamError instanceof AppError, `the stream ended with ${String(streamError)}`);
      assert.equal(streamError.code, status.UNAVAILABLE);
      assert.match(streamError.message, /shutting down/);
      await shutdown;
      await assert.rejects(authz.check({ resource: "x" }, { timeoutMs: 1000 }), (err: AppError) => {
        assert.ok([status.UNAVAILABLE, status.DEADLINE_EXCEEDED].includes(err.code), status[err.code]);
        return true;
      });
    } finally {
      await fixture.admin.close();
      await jwks.close();
    }
  });
});
