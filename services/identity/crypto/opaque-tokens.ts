import { createHash, randomBytes, timingSafeEqual } from "node:crypto";

/** A random secret for refresh tokens, device secrets, verification links: 256 bits, base64url. */
export const newOpaqueToken = (): string => randomBytes(32).toString("base64url");

/** What is stored instead of the token: SHA-256 hex. High-entropy tokens need no slow hash. */
export const hashToken = (token: string): string => createHash("sha256").update(token).digest("hex");

export function sameHash(a: string, b: string): boolean {
  const x = Buffer.from(a, "hex");
  const y = Buffer.from(b, "hex");
  return x.length === y.length && timingSafeEqual(x, y);
}
