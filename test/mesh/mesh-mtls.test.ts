import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes, randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { credentials, status } from "@grpc/grpc-js";
import { AuthzService } from "../../gen/rollcall/authz/v1/authz_pb.js";
import { createClient } from "../../services/runtime/grpc/client.js";
import { meshTransport } from "../../services/runtime/grpc/mesh-transport.js";
import { AppError } from "../../services/runtime/errors.js";
import { openTestDatabase, type TestDatabase } from "../support/database.js";
import { newSigner, serveJwks, signToken } from "../support/tokens.js";
import { parseExposition } from "../support/metrics-text.js";
import { TestCa } from "./certs.js";
import { MountedSecret, startReplica, type Replica } from "./replicas.js";

/**
 * Three authz replicas, each its own process as in a cluster, with mutual TLS, behind one
 * client-side load-balanced target (the list a headless Service's DNS name resolves to).
 */
describe("mesh: replicas, client-side balancing, retries, mTLS and service identity", function () {
  this.timeout(120_000);
  let dir: string;
  let ca: TestCa;
  let database: TestDatabase;
  let jwks: Awaited<ReturnType<typeof serveJwks>>;
  let token: string;
  let replicas: Replica[] = [];
  let secrets: MountedSecret[] = [];
  const org = randomUUID();
  const subject = randomUUID();

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "rollcall-mesh-"));
    ca = new TestCa(join(dir, "ca"), "rollcall-mesh-ca");
    database = await openTestDatabase();
    const signer = await newSigner();
    jwks = await serveJwks([signer.publicJwk]);
    token = await signToken(signer, { sub: subject, org });
    const namespace = `t${process.pid}x${randomBytes(3).toString("hex")}`;
    replicas = await Promise.all([0, 1, 2].map(async (i) => {
      const secret = new MountedSecret(join(dir, `authz-${i}`, "mount"));
      secret.update(ca.issue(join(dir, `authz-${i}`, "v0"), "authz"));
      secrets.push(secret);
      return startReplica(["authz"], {
        ROLLCALL_MESH_TRANSPORT: "mtls",
        ROLLCALL_TLS_DIR: secret.dir,
        ROLLCALL_TLS_REFRESH_MS: "200",
        ROLLCALL_JWKS_URL: jwks.url,
        DATABASE_URL: database.url,
        ROLLCALL_DATA_DIR: join(dir, `data-${i}`),
        ROLLCALL_BUS_NAMESPACE: namespace,
        ROLLCALL_CACHE_PREFIX: `test:${namespace}:`,
        ROLLCALL_SHUTDOWN_GRACE_MS: "1000",
        ...(process.env.REDIS_URL ? { REDIS_URL: process.env.REDIS_URL } : {}),
        ...(process.env.NATS_URL ? { NATS_URL: process.env.NATS_URL } : {}),
      });
    }));
  });

  after(async () => {
    await Promise.all(replicas.map((r) => r.stop()));
    await jwks?.close();
    await database?.drop();
    await rm(dir, { recursive: true, force: true });
  });

  // Survivors only, once one is killed: what the headless Service's DNS would answer.
  const target = () => `ipv4:${replicas.map((r) => `127.0.0.1:${r.grpcPort}`).join(",")}`;
  /** A client holding a certificate of `service` from the mesh CA (or the CA given). */
  const clientAs = (service: string, issuer: TestCa = ca, at = target()) => {
    const certDir = issuer.issue(join(dir, `client-${service}-${randomBytes(3).toString("hex")}`), service, [ca]);
    const transport = meshTransport({ transport: "mtls", tlsDir: certDir, tlsRefreshMs: 60_000 });
    return createClient(AuthzService, at, { credentials: transport.channelCredentials("authz"), bearer: () => token });
  };
  const checkRequest = { subjectId: subject, organizationId: org, resource: "users", action: "read" };
  const handledChecks = async (replica: Replica): Promise<number> => {
    const text = await (await fetch(`http://127.0.0.1:${replica.adminPort}/metrics`)).text();
    return parseExposition(text)
      .filter((s) => s.name === "grpc_server_handled_total" && s.labels.grpc_method === "Check" && s.labels.grpc_code === "OK")
      .reduce((sum, s) => sum + s.value, 0);
  };
  const expectCode = (promise: Promise<unknown>, code: status, pattern?: RegExp) =>
    assert.rejects(promise, (err: unknown) => {
      assert.ok(err instanceof AppError, `expected AppError, got ${String(err)}`);
      assert.equal(status[err.code], status[code], err.message);
      if (pattern) assert.match(err.message, pattern);
      return true;
    });

  it("answers a mesh service's Check on every replica, spread round-robin", async () => {
    const client = clientAs("identity");
    const before = await Promise.all(replicas.map(handledChecks));
    for (let i = 0; i < 30; i++) {
      const res = await client.check(checkRequest);
      assert.equal(res.allowed, false); // a real decision: this organisation grants nothing
    }
    const after = await Promise.all(replicas.map(handledChecks));
    const served = after.map((n, i) => n - before[i]!);
    assert.equal(served.reduce((a, b) => a + b), 30);
    for (const n of served) assert.ok(n >= 5, `round-robin should spread 30 calls over 3 replicas, got ${served.join("/")}`);
    client.close();
  });

  it("keeps answering when a replica is killed mid-load, spreading over the survivors", async () => {
    const client = clientAs("vision");
    let failures = 0;
    let done = 0;
    let stop = false;
    const worker = async () => {
      while (!stop) {
        try {
          await client.check(checkRequest, { timeoutMs: 10_000 });
          done++;
        } catch (err) {
          failures++;
          throw new Error(`a call failed after the kill (${status[(err as AppError).code]}): ${(err as Error).message}`);
        }
      }
    };
    const workers = Array.from({ length: 8 }, worker);
    while (done < 40) await sleep(10);
    const victim = replicas[0]!;
    replicas = replicas.slice(1);
    secrets = secrets.slice(1);
    await victim.kill();
    const killedAt = done;
    const survivorsBefore = await Promise.all(replicas.map(handledChecks));
    while (done < killedAt + 80) await sleep(10);
    stop = true;
    await Promise.all(workers);
    assert.equal(failures, 0);
    const survivorsAfter = await Promise.all(replicas.map(handledChecks));
    const served = survivorsAfter.map((n, i) => n - survivorsBefore[i]!);
    for (const n of served) assert.ok(n >= 10, `both survivors should take the load, got ${served.join("/")}`);
    client.close();
  });

  it("refuses a client without a certificate, or with one from another CA", async () => {
    const caPem = (await import("node:fs")).readFileSync(ca.cert);
    const noCert = createClient(AuthzService, target(), {
      credentials: credentials.createSsl(caPem, null, null, { checkServerIdentity: () => undefined }),
      bearer: () => token,
    });
    await expectCode(noCert.check(checkRequest, { timeoutMs: 5_000 }), status.UNAVAILABLE);
    noCert.close();
    const stranger = new TestCa(join(dir, "other-ca"), "someone-else");
    const forged = clientAs("identity", stranger);
    await expectCode(forged.check(checkRequest, { timeoutMs: 5_000 }), status.UNAVAILABLE);
    forged.close();
    const plaintext = createClient(AuthzService, target(), { bearer: () => token });
    await expectCode(plaintext.check(checkRequest, { timeoutMs: 5_000 }), status.UNAVAILABLE);
    plaintext.close();
  });

  it("lets only the mesh's services call internal-only methods: the gateway's certificate is refused Check", async () => {
    const gateway = clientAs("gateway");
    await expectCode(gateway.check(checkRequest), status.PERMISSION_DENIED, /internal to the mesh.*'gateway'/);
    // Methods that are not internal stay open to it (the caller's token decides).
    const res = await gateway.listEffectivePermissions({ subjectId: subject, organizationId: org });
    assert.deepEqual(res.permissions, []);
    gateway.close();
  });

  it("a client refuses a server whose certificate is for another service", async () => {
    const certDir = ca.issue(join(dir, "client-expects-vision"), "identity");
    const transport = meshTransport({ transport: "mtls", tlsDir: certDir, tlsRefreshMs: 60_000 });
    const confused = createClient(AuthzService, target(), { credentials: transport.channelCredentials("vision"), bearer: () => token });
    await expectCode(confused.check(checkRequest, { timeoutMs: 5_000 }), status.UNAVAILABLE);
    confused.close();
  });

  it("picks up a rotated certificate without a restart", async () => {
    const next = new TestCa(join(dir, "ca-next"), "rollcall-mesh-ca-next");
    const replica = replicas[0]!;
    const only = `127.0.0.1:${replica.grpcPort}`;
    // A client that trusts only the next CA cannot talk to the replica yet...
    const nextClient = () => {
      const certDir = next.issue(join(dir, `client-next-${randomBytes(3).toString("hex")}`), "identity", [next]);
      const transport = meshTransport({ transport: "mtls", tlsDir: certDir, tlsRefreshMs: 60_000 });
      return createClient(AuthzService, only, { credentials: transport.channelCredentials("authz"), bearer: () => token });
    };
    const early = nextClient();
    await expectCode(early.check(checkRequest, { timeoutMs: 5_000 }), status.UNAVAILABLE);
    early.close();
    // ...until the Secret is renewed with a certificate from it (trusting both CAs meanwhile).
    secrets[0]!.update(next.issue(join(dir, "authz-0-rotated"), "authz", [ca, next]));
    const deadline = Date.now() + 20_000;
    for (;;) {
      const client = nextClient();
      try {
        await client.check(checkRequest, { timeoutMs: 5_000 });
        break;
      } catch (err) {
        if (Date.now() > deadline) throw err;
        await sleep(200);
      } finally {
        client.close();
      }
    }
    // A client certificate from the first CA is still accepted: the new bundle trusts both.
    const oldDir = ca.issue(join(dir, "client-old-ca"), "identity", [ca, next]);
    const oldTransport = meshTransport({ transport: "mtls", tlsDir: oldDir, tlsRefreshMs: 60_000 });
    const old = createClient(AuthzService, only, { credentials: oldTransport.channelCredentials("authz"), bearer: () => token });
    assert.equal((await old.check(checkRequest)).allowed, false);
    old.close();
  });
});
