import { createHash, randomBytes } from "node:crypto";

/** 256 random bits, base64url: 43 characters, within PKCE's 43–128 unreserved characters (RFC 7636 §4.1). */
export const randomValue = (): string => randomBytes(32).toString("base64url");

/** RFC 7636 §4.2, S256: BASE64URL(SHA256(ASCII(code_verifier))). */
export const codeChallenge = (verifier: string): string => createHash("sha256").update(verifier, "ascii").digest("base64url");

/** A fresh verifier and its challenge for one authorization request. */
export function newPkce(): { verifier: string; challenge: string } {
  const verifier = randomValue();
  return { verifier, challenge: codeChallenge(verifier) };
}
