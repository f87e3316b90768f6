import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { randomUUID } from "node:crypto";
import { SignJWT, exportJWK, generateKeyPair, type CryptoKey, type JWK } from "jose";
import type { CallerKind } from "../../services/runtime/auth/caller.js";

export interface TestSigner {
  kid: string;
  privateKey: CryptoKey;
  publicJwk: JWK;
}

export async function newSigner(kid: string = randomUUID()): Promise<TestSigner> {
  const { privateKey, publicKey } = await generateKeyPair("EdDSA", { crv: "Ed25519" });
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg: "EdDSA", use: "sig" };
  return { kid, privateKey, publicJwk };
}

export interface TokenClaims {
  typ?: CallerKind;
  sub?: string;
  org?: string;
  sid?: string;
  roles?: string[];
  expiresInSec?: number;
  issuer?: string;
  audience?: string;
}

export async function signToken(signer: TestSigner, claims: TokenClaims = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ typ: claims.typ ?? "user", org: claims.org ?? randomUUID(), sid: claims.sid, roles: claims.roles ?? ["USER"] })
    .setProtectedHeader({ alg: "EdDSA", kid: signer.kid })
    .setSubject(claims.sub ?? randomUUID())
    .setIssuer(claims.issuer ?? "rollcall")
    .setAudience(claims.audience ?? "rollcall")
    .setJti(randomUUID())
    .setIssuedAt(now)
    .setExpirationTime(now + (claims.expiresInSec ?? 900))
    .sign(signer.privateKey);
}

/** A real HTTP server publishing a JWKS, as identity's /.well-known/jwks.json does. */
export async function serveJwks(keys: JWK[]): Promise<{ url: string; requests: () => number; close(): Promise<void> }> {
  let count = 0;
  const server: Server = createServer((_req, res) => {
    count++;
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ keys }));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/.well-known/jwks.json`,
    requests: () => count,
    close: () => new Promise((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}
