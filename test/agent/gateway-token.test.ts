import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { status } from "@grpc/grpc-js";
import { createLocalJWKSet, type JSONWebKeySet } from "jose";
import { DeviceService } from "../../gen/rollcall/identity/v1/device_pb.js";
import { Gateway } from "../../services/gateway/gateway.js";
import { TokenVerifier } from "../../services/runtime/auth/token-verifier.js";
import { createLogger } from "../../services/runtime/logger.js";
import { ConfigError } from "../../services/runtime/config.js";
import { loadAgentConfig } from "../../agent/src/config.js";
import { agentCommand } from "../../agent/src/command.js";
import { DeviceTokenError, DeviceTokens } from "../../agent/src/transport/device-token.js";
import { GatewayTokenIssuer } from "../../agent/src/transport/gateway-token-issuer.js";
import { IdentityTokenIssuer } from "../../agent/src/transport/identity-token-issuer.js";
import { startGatewayInFront, type GatewayInFront } from "./support/gateway.js";
import { closedPort } from "../support/ports.js";

const DEVICE = "7d3f4a52-1a8e-4c7b-9f8e-3b1f0c2d4e5a";

describe("agent config: device tokens from --gateway-url or --identity", () => {
  const env = { ROLLCALL_DEVICE_ID: DEVICE, ROLLCALL_DEVICE_SECRET: "s3cret" };

  it("takes the gateway's base URL when given, identity's address otherwise", () => {
    assert.deepEqual(loadAgentConfig({ source: "0" }, env).device.tokens, { via: "identity", address: "127.0.0.1:50051" });
    assert.deepEqual(loadAgentConfig({ source: "0", gatewayUrl: "https://rollcall.example.com/" }, env).device.tokens, { via: "gateway", url: "https://rollcall.example.com" });
    const fromEnv = loadAgentConfig({ source: "0" }, { ...env, ROLLCALL_AGENT_GATEWAY_URL: "http://gateway.rollcall.svc:8080", ROLLCALL_IDENTITY_ADDR: "identity:50051" });
    assert.deepEqual(fromEnv.device.tokens, { via: "gateway", url: "http://gateway.rollcall.svc:8080" }, "the gateway wins over identity");
  });

  it("rejects a gateway URL that is not an http(s) base URL, naming the flag and its variable", () => {
    for (const bad of ["gateway:8080", "ftp://gateway", "https://gateway/?x=1", "https://user:pw@gateway"]) {
      assert.throws(() => loadAgentConfig({ source: "0", gatewayUrl: bad }, env), (err: ConfigError) =>
        err.problems.some((p) => p.startsWith("--gateway-url (ROLLCALL_AGENT_GATEWAY_URL)=") && p.includes("must be an http:// or https:// base URL")), bad);
    }
  });

  it("--help explains both ways to get a device token", () => {
    const help = agentCommand().helpInformation().replace(/\s+/g, " ");
    assert.match(help, /--gateway-url <url>.*ROLLCALL_AGENT_GATEWAY_URL/);
    assert.match(help, /--identity <host:port>.*when --gateway-url is unset/);
  });
});

describe("device token exchange through the public gateway, in front of a real identity", function () {
  this.timeout(60_000);
  let env: GatewayInFront;
  let device: { id: string; secret: string };
  let verifier: TokenVerifier;

  before(async () => {
    env = await startGatewayInFront();
    device = await env.registerDevice("Gateway door");
    const jwks = (await (await fetch(`http://127.0.0.1:${env.mesh.host.adminPort}/.well-known/jwks.json`)).json()) as JSONWebKeySet;
    verifier = new TokenVerifier({ issuer: "rollcall", audience: "rollcall", keys: createLocalJWKSet(jwks) });
  });
  after(() => env?.stop());

  const refusal = (code: status, permanent: boolean, text: RegExp) => (err: unknown) => {
    assert.ok(err instanceof DeviceTokenError, String(err));
    assert.equal(err.code, code, err.message);
    assert.equal(err.permanent, permanent, err.message);
    assert.match(err.message, text);
    return true;
  };

  it("exchanges the device id and secret for identity's device token, with no bearer token", async () => {
    const tokens = new DeviceTokens(device.id, device.secret, new GatewayTokenIssuer(`${env.url}/`, 5_000));
    const token = await tokens.get();
    const caller = await verifier.verify(token.token);
    assert.deepEqual([caller.kind, caller.subject, caller.organizationId], ["device", device.id, token.organizationId]);
    assert.ok(token.expiresAt.getTime() > Date.now() + 60_000, "a token with its lifetime ahead");
    assert.equal(await tokens.get(), token, "reused until half of its lifetime has passed");
    // The same token as identity's own gRPC answer would carry (the development path).
    const direct = await new DeviceTokens(device.id, device.secret, new IdentityTokenIssuer(env.mesh.target, 5_000)).get();
    assert.equal(direct.organizationId, token.organizationId);
  });

  it("opens only the credential exchange: every other DeviceService method still needs a bearer token", async () => {
    const post = (method: string, body: object, headers: Record<string, string> = {}) =>
      fetch(`${env.url}/rollcall.identity.v1.DeviceService/${method}`, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(body) });
    for (const [method, body] of [["ListDevices", {}], ["GetDevice", { deviceId: device.id }], ["RotateDeviceSecret", { deviceId: device.id }], ["DisableDevice", { deviceId: device.id }], ["RegisterDevice", { name: "sneaky" }]] as const) {
      const res = await post(method, body);
      assert.equal(res.status, 401, `${method} without a bearer token`);
      assert.equal(((await res.json()) as { code: string }).code, "unauthenticated", method);
    }
    // A device's own token is no administrator's: it cannot list or change devices.
    const { token } = await new DeviceTokens(device.id, device.secret, new GatewayTokenIssuer(env.url, 5_000)).get();
    const listed = await post("ListDevices", {}, { authorization: `Bearer ${token}` });
    assert.equal(listed.status, 403, await listed.clone().text());
    const rotated = await post("RotateDeviceSecret", { deviceId: device.id }, { authorization: `Bearer ${token}` });
    assert.equal(rotated.status, 403);
  });

  it("says what to fix when the gateway refuses the secret, and does not retry it", async () => {
    const issuer = new GatewayTokenIssuer(env.url, 5_000);
    await assert.rejects(issuer.issue(device.id, "not-the-secret"), refusal(status.UNAUTHENTICATED, true, /the gateway at http:\/\/127\.0\.0\.1:\d+ refused the device id or secret: device id or secret is not correct\. Check ROLLCALL_DEVICE_ID and ROLLCALL_DEVICE_SECRET.*rotate-secret/));
    await assert.rejects(issuer.issue("not-a-uuid", "x"), refusal(status.UNAUTHENTICATED, true, /refused the device id or secret/));
  });

  it("repeats a refusal for 30 s without asking again (each is an audited failure); an outage is asked about every time", async () => {
    const issuer = new GatewayTokenIssuer(env.url, 5_000);
    let asked = 0;
    const counting = { description: issuer.description, close: () => issuer.close(), issue: (id: string, secret: string) => (asked++, issuer.issue(id, secret)) };
    const tokens = new DeviceTokens(device.id, "not-the-secret", counting);
    await assert.rejects(tokens.get(), refusal(status.UNAUTHENTICATED, true, /refused/));
    await assert.rejects(tokens.get(), refusal(status.UNAUTHENTICATED, true, /refused/));
    assert.equal(asked, 1, "the second refusal is the remembered one");
    const unreachable = new DeviceTokens(device.id, device.secret, new GatewayTokenIssuer(`http://127.0.0.1:${await closedPort()}`, 2_000));
    await assert.rejects(unreachable.get(), refusal(status.UNAVAILABLE, false, /retrying/));
    await assert.rejects(unreachable.get(), refusal(status.UNAVAILABLE, false, /ECONNREFUSED/), "an outage is asked about every time");
  });

  it("says the device is disabled when it is", async () => {
    const disabled = await env.registerDevice("Disabled door");
    await env.mesh.client(DeviceService, await env.mesh.adminToken()).disableDevice({ deviceId: disabled.id, reason: "test" });
    await assert.rejects(new GatewayTokenIssuer(env.url, 5_000).issue(disabled.id, disabled.secret), refusal(status.PERMISSION_DENIED, true, /will not issue tokens to this device: device Disabled door is disabled\. An administrator re-enables/));
    await assert.rejects(new IdentityTokenIssuer(env.mesh.target, 5_000).issue(disabled.id, disabled.secret), refusal(status.PERMISSION_DENIED, true, /^identity at 127\.0\.0\.1:\d+ will not issue tokens/));
  });

  it("tells a wrong base URL from an unreachable gateway", async () => {
    await assert.rejects(new GatewayTokenIssuer(`${env.url}/rollcall`, 5_000).issue(device.id, device.secret), refusal(status.NOT_FOUND, true, /does not serve rollcall\.identity\.v1\.DeviceService\/IssueDeviceToken: no such RPC.*Is the address the Rollcall gateway's base URL/));
    const closed = await closedPort();
    await assert.rejects(new GatewayTokenIssuer(`http://127.0.0.1:${closed}`, 5_000).issue(device.id, device.secret), refusal(status.UNAVAILABLE, false, /is unreachable or cannot reach identity: connect ECONNREFUSED 127\.0\.0\.1:\d+; retrying$/));
  });

  it("reads a proxy's own error page (no Connect error in it) by its HTTP status", async () => {
    const proxy = await answering(502, "text/html", "<html>Bad Gateway</html>");
    try {
      await assert.rejects(new GatewayTokenIssuer(proxy.url, 5_000).issue(device.id, device.secret), refusal(status.UNAVAILABLE, false, /HTTP 502; retrying$/));
    } finally {
      await proxy.close();
    }
    const ingress404 = await answering(404, "text/plain", "default backend - 404");
    try {
      await assert.rejects(new GatewayTokenIssuer(ingress404.url, 5_000).issue(device.id, device.secret), refusal(status.UNIMPLEMENTED, true, /does not serve .*HTTP 404/));
    } finally {
      await ingress404.close();
    }
  });

  it("carries identity's outage through the gateway as a refusal worth retrying", async () => {
    const cut = new Gateway({ routes: [{ service: DeviceService, target: `127.0.0.1:${await closedPort()}` }], maxMessageBytes: 1024 * 1024, logger: createLogger("silent") });
    const url = `http://127.0.0.1:${await cut.listen("127.0.0.1", 0)}`;
    try {
      await assert.rejects(new GatewayTokenIssuer(url, 3_000).issue(device.id, device.secret), refusal(status.UNAVAILABLE, false, /^the gateway at http:\/\/127\.0\.0\.1:\d+ is unreachable or cannot reach identity: the identity service is unavailable; retry shortly; retrying$/));
    } finally {
      await cut.close(100);
    }
  });
});

/** A server answering every request with one fixed response, as an ingress's error page. */
async function answering(code: number, contentType: string, body: string): Promise<{ url: string; close(): Promise<void> }> {
  const server: Server = createServer((_req, res) => res.writeHead(code, { "content-type": contentType }).end(body));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}
