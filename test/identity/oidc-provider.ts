/**
 * A real OpenID provider for identity's OAuth tests: oidc-provider (a certified implementation)
 * on a local port, with login and consent pages that check passwords as a provider's own would;
 * the browser's part of a sign-in; and a token endpoint proxy that can tamper with responses.
 */
import assert from "node:assert/strict";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { randomBytes } from "node:crypto";
import { exportJWK, generateKeyPair } from "jose";
import Provider, { type Configuration } from "oidc-provider";
export { freePort } from "../support/ports.js";

export const CLIENT_ID = "rollcall-test";
export const CLIENT_SECRET = `s3cret-${randomBytes(12).toString("hex")}`;
export const REDIRECT_URI = "http://127.0.0.1:8765/oauth/callback";

interface TestAccount {
  password: string;
  email: string;
  emailVerified: boolean;
  preferredUsername: string;
  givenName: string;
  familyName: string;
}

/** The people the OpenID provider knows, by subject. */
const ACCOUNTS: Record<string, TestAccount> = {
  "alice-0001": { password: "alice pw", email: "Alice@Example.test", emailVerified: true, preferredUsername: "alice", givenName: "Alice", familyName: "Liddell" },
  "bob-0002": { password: "bob pw", email: "bob@example.test", emailVerified: true, preferredUsername: "bobby", givenName: "Bob", familyName: "Builder" },
  "mallory-0003": { password: "mallory pw", email: "bob@example.test", emailVerified: false, preferredUsername: "mallory", givenName: "", familyName: "" },
  "carol-0004": { password: "carol pw", email: "carol@example.test", emailVerified: true, preferredUsername: "carol", givenName: "Carol", familyName: "" },
};

export interface OpenIdProvider {
  issuer: string;
  close(): Promise<void>;
}

export async function startOpenIdProvider(): Promise<OpenIdProvider> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const { privateKey } = await generateKeyPair("RS256", { extractable: true });
  const configuration: Configuration = {
    clients: [
      { client_id: CLIENT_ID, client_secret: CLIENT_SECRET, redirect_uris: [REDIRECT_URI], grant_types: ["authorization_code"], response_types: ["code"] },
      // The provider holds each client to its registered authentication method.
      { client_id: `${CLIENT_ID}-post`, client_secret: CLIENT_SECRET, token_endpoint_auth_method: "client_secret_post", redirect_uris: [REDIRECT_URI], grant_types: ["authorization_code"], response_types: ["code"] },
    ],
    jwks: { keys: [{ ...(await exportJWK(privateKey)), kid: "test-key", alg: "RS256", use: "sig" }] as never },
    pkce: { required: () => true }, // S256 only, oidc-provider 8's default
    claims: { openid: ["sub"], email: ["email", "email_verified"], profile: ["preferred_username", "given_name", "family_name", "name"] },
    features: { devInteractions: { enabled: false } },
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    cookies: { keys: [randomBytes(16).toString("hex")] },
    ttl: { AccessToken: 600, AuthorizationCode: 60, Grant: 600, IdToken: 600, Interaction: 600, Session: 600 },
    async findAccount(_ctx, sub) {
      const account = ACCOUNTS[sub];
      if (!account) return undefined;
      return {
        accountId: sub,
        async claims() {
          return {
            sub, email: account.email, email_verified: account.emailVerified, preferred_username: account.preferredUsername,
            given_name: account.givenName, family_name: account.familyName, name: `${account.givenName} ${account.familyName}`.trim(),
          };
        },
      };
    },
  };
  const provider = new Provider(issuer, configuration);
  const oidc = provider.callback();
  server.on("request", (req: IncomingMessage, res: ServerResponse) => {
    const interaction = /^\/interaction\/([\w-]+)$/.exec(req.url ?? "");
    if (!interaction) return void oidc(req, res);
    interact(provider, req, res).catch((err: Error) => res.writeHead(500).end(err.message));
  });
  return { issuer, close: () => closeServer(server) };
}

async function interact(provider: Provider, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const details = await provider.interactionDetails(req, res);
  if (req.method === "GET") {
    const fields = details.prompt.name === "login" ? '<input name="login"><input name="password" type="password">' : "";
    res.writeHead(200, { "content-type": "text/html" }).end(`<form method="post"><input type="hidden" name="prompt" value="${details.prompt.name}">${fields}<button>Continue</button></form>`);
    return;
  }
  const form = new URLSearchParams(await bodyOf(req));
  if (form.get("prompt") === "login") {
    const sub = form.get("login") ?? "";
    if (ACCOUNTS[sub]?.password !== form.get("password")) return void res.writeHead(401, { "content-type": "text/html" }).end("wrong login or password");
    return provider.interactionFinished(req, res, { login: { accountId: sub } }, { mergeWithLastSubmission: false });
  }
  const grant = new provider.Grant({ accountId: details.session!.accountId, clientId: details.params.client_id as string });
  const missing = details.prompt.details as { missingOIDCScope?: string[]; missingOIDCClaims?: string[] };
  if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(" "));
  if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
  await provider.interactionFinished(req, res, { consent: { grantId: await grant.save() } }, { mergeWithLastSubmission: true });
}

/**
 * The browser's part: follows the provider's redirects, fills in its login and consent forms,
 * and stops at the redirect back to the application, whose query carries code and state.
 */
export async function signInAtProvider(authorizationUrl: string, sub: string): Promise<URLSearchParams> {
  const cookies = new Map<string, string>();
  const visit = async (url: string, form?: Record<string, string>) => {
    const res = await fetch(url, {
      method: form ? "POST" : "GET",
      redirect: "manual",
      headers: { cookie: [...cookies].map(([k, v]) => `${k}=${v}`).join("; "), ...(form ? { "content-type": "application/x-www-form-urlencoded" } : {}) },
      body: form ? new URLSearchParams(form).toString() : undefined,
    });
    for (const cookie of res.headers.getSetCookie()) {
      const pair = cookie.split(";")[0]!;
      cookies.set(pair.slice(0, pair.indexOf("=")), pair.slice(pair.indexOf("=") + 1));
    }
    return res;
  };
  let url = authorizationUrl;
  for (let step = 0; step < 12; step++) {
    if (url.startsWith(REDIRECT_URI)) return new URL(url).searchParams;
    let res = await visit(url);
    if (res.status === 200) {
      const prompt = /name="prompt" value="(\w+)"/.exec(await res.text())?.[1];
      assert.ok(prompt, `no form at ${url}`);
      res = await visit(url, prompt === "login" ? { prompt, login: sub, password: ACCOUNTS[sub]!.password } : { prompt });
    }
    assert.ok(res.status >= 300 && res.status < 400, `expected a redirect from ${url}, got ${res.status}: ${await res.text()}`);
    url = new URL(res.headers.get("location")!, url).href;
  }
  throw new Error("the provider never redirected back");
}

/** A token endpoint in front of the real one that passes the response through `change`. */
export async function startTokenProxy(target: () => string, change: (body: Record<string, unknown>) => Record<string, unknown>): Promise<{ url: string; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    void (async () => {
      const upstream = await fetch(target(), {
        method: "POST",
        headers: { "content-type": req.headers["content-type"] ?? "", authorization: req.headers.authorization ?? "" },
        body: await bodyOf(req),
      });
      const body = (await upstream.json()) as Record<string, unknown>;
      res.writeHead(upstream.status, { "content-type": "application/json" }).end(JSON.stringify(upstream.ok ? change(body) : body));
    })().catch((err: Error) => res.writeHead(502).end(err.message));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/token`, close: () => closeServer(server) };
}

async function bodyOf(req: IncomingMessage): Promise<string> {
  let body = "";
  for await (const chunk of req) body += chunk;
  return body;
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  });
}
