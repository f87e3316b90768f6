/**
 * argon2id at the login's parameters (m=19 MiB, t=2, p=1): CPU ms per verify of each
 * implementation that is installed, side by side in rounds, and whether each one verifies the
 * others' PHC strings. `@node-rs/argon2` is the project's; the `argon2` package (compiled from
 * source, which identity used before) is measured only when present (`npm install --no-save argon2`).
 *   node --import tsx bench/identity/argon2.ts [--verifies 40] [--rounds 3]
 */
import { createRequire } from "node:module";
import { Algorithm, hash as rsHash, verify as rsVerify } from "@node-rs/argon2";
import { numberFlag } from "../lib/flags.js";

interface Implementation {
  hash(password: string): Promise<string>;
  verify(hash: string, password: string): Promise<boolean>;
}

const PARAMS = { memoryCost: 19_456, timeCost: 2, parallelism: 1 };
const PASSWORD = "Benchmark-password-2026";
const verifies = numberFlag("--verifies", 40);
const rounds = numberFlag("--rounds", 3);

const implementations: Record<string, Implementation> = {
  "@node-rs/argon2": { hash: (p) => rsHash(p, { algorithm: Algorithm.Argon2id, ...PARAMS }), verify: (h, p) => rsVerify(h, p) },
};
try {
  const argon2 = createRequire(import.meta.url)("argon2") as {
    argon2id: number;
    hash(password: string, options: object): Promise<string>;
    verify(hash: string, password: string): Promise<boolean>;
  };
  implementations.argon2 = { hash: (p) => argon2.hash(p, { type: argon2.argon2id, ...PARAMS }), verify: (h, p) => argon2.verify(h, p) };
} catch {
  console.log("argon2 (the C package) is not installed: measuring @node-rs/argon2 only");
}

const hashes = Object.fromEntries(await Promise.all(Object.entries(implementations).map(async ([name, impl]) => [name, await impl.hash(PASSWORD)] as const)));
for (const [name, impl] of Object.entries(implementations)) {
  for (const [other, hash] of Object.entries(hashes)) {
    const agrees = (await impl.verify(hash, PASSWORD)) && !(await impl.verify(hash, `${PASSWORD}x`));
    console.log(`${name} verifies ${other}'s hash: ${agrees ? "yes" : "NO"}`);
  }
}

const cpuMs: Record<string, number[]> = {};
for (let round = 0; round < rounds; round++) {
  for (const [name, impl] of Object.entries(implementations)) {
    const start = process.cpuUsage();
    for (let i = 0; i < verifies; i++) await impl.verify(hashes[name]!, PASSWORD);
    const used = process.cpuUsage(start);
    (cpuMs[name] ??= []).push((used.user + used.system) / 1000 / verifies);
  }
}
for (const [name, samples] of Object.entries(cpuMs)) {
  const sorted = samples.sort((a, b) => a - b);
  console.log(`${name}: CPU ms per verify, median of ${rounds} rounds of ${verifies}: ${sorted[Math.floor(sorted.length / 2)]!.toFixed(2)} (min ${sorted[0]!.toFixed(2)})`);
}
