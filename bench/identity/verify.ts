/**
 * Token verification throughput on one core, in its own process: the interceptor's work per call.
 * "first sight" verifies the signature of distinct tokens; "repeat" is a client calling again
 * with the same token (verified once, then remembered until it expires); both check revocation
 * in the cache on every call.
 */
import { createLocalJWKSet, exportJWK, generateKeyPair, SignJWT } from "jose";
import { TokenVerifier } from "../../services/runtime/auth/token-verifier.js";
import { CacheRevocationList } from "../../services/runtime/auth/revocation.js";
import { MemoryCache } from "../../services/runtime/cache/memory-cache.js";
import { report } from "../lib/child.js";

const seconds = Number(process.argv[2] ?? 5);
const { privateKey, publicKey } = await generateKeyPair("EdDSA", { crv: "Ed25519" });
const jwk = { ...(await exportJWK(publicKey)), kid: "k1", alg: "EdDSA" };
const sign = (i: number) => new SignJWT({ typ: "user", org: "00000000-0000-4000-8000-000000000001", sid: `s${i}`, roles: ["USER"] })
  .setProtectedHeader({ alg: "EdDSA", kid: "k1" }).setSubject(`u${i}`).setJti(`j${i}`).setIssuer("rollcall").setAudience("rollcall")
  .setIssuedAt().setExpirationTime("15m").sign(privateKey);
const keys = createLocalJWKSet({ keys: [jwk] });
const verifier = () => new TokenVerifier({ issuer: "rollcall", audience: "rollcall", keys, revocations: new CacheRevocationList(new MemoryCache()) });

const distinct = await Promise.all(Array.from({ length: 20_000 }, (_, i) => sign(i)));
const fresh = verifier();
let start = performance.now();
for (const token of distinct) await fresh.verify(token);
const firstSight = distinct.length / ((performance.now() - start) / 1000);

const repeat = verifier();
const token = distinct[0]!;
for (let i = 0; i < 2000; i++) await repeat.verify(token);
let n = 0;
start = performance.now();
const end = start + seconds * 1000;
while (performance.now() < end) {
  for (let i = 0; i < 1000; i++) await repeat.verify(token);
  n += 1000;
}
report.result({ firstSight, repeat: n / ((performance.now() - start) / 1000) });
process.exit(0);
