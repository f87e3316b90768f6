import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { verify as argon2Verify } from "@node-rs/argon2";
import { status } from "@grpc/grpc-js";
import { PasswordHasher, checkPasswordPolicy } from "../../services/identity/crypto/passwords.js";
import { SecretBox, loadEncryptionKey } from "../../services/identity/crypto/secret-box.js";
import { hashToken, newOpaqueToken, sameHash } from "../../services/identity/crypto/opaque-tokens.js";
import { AppError } from "../../services/runtime/errors.js";
import { createLogger } from "../../services/runtime/logger.js";

const OWASP_MIN = { memoryKiB: 19_456, timeCost: 2, parallelism: 1 };

describe("identity: passwords, secrets and opaque tokens", function () {
  this.timeout(20_000);

  describe("argon2id hashing", () => {
    const hasher = new PasswordHasher(OWASP_MIN);

    it("hashes with argon2id at the configured parameters and verifies", async () => {
      const hash = await hasher.hash("correct horse battery staple");
      assert.match(hash, /^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
      assert.deepEqual(await hasher.verify(hash, "correct horse battery staple"), { ok: true, needsRehash: false });
      assert.deepEqual(await hasher.verify(hash, "wrong horse battery staple"), { ok: false, needsRehash: false });
    });

    it("asks for a rehash when the parameters were raised", async () => {
      const old = await hasher.hash("correct horse battery staple");
      const stronger = new PasswordHasher({ ...OWASP_MIN, timeCost: 3 });
      assert.deepEqual(await stronger.verify(old, "correct horse battery staple"), { ok: true, needsRehash: true });
      const upgraded = await stronger.hash("correct horse battery staple");
      assert.match(upgraded, /t=3/);
      assert.ok(await argon2Verify(upgraded, "correct horse battery staple"));
    });

    it("treats a corrupt stored hash as a wrong password, not a crash", async () => {
      assert.deepEqual(await hasher.verify("not-a-hash", "x"), { ok: false, needsRehash: false });
    });
  });

  describe("password policy", () => {
    const user = { email: "ada.lovelace@example.com", username: "ada" };
    const rejects = (password: string, pattern: RegExp) =>
      assert.throws(() => checkPasswordPolicy(password, user), (err: AppError) => err.code === status.INVALID_ARGUMENT && pattern.test(err.message));

    it("accepts a long, personal-free password", () => checkPasswordPolicy("violet-Engine-41-harbour", user));
    it("rejects short ones", () => rejects("Sh0rt!pass", /^password: must be at least 12 characters$/));
    it("rejects common ones", () => rejects("password1234", /most common passwords/));
    it("rejects ones containing the email name or username", () => {
      rejects("ada.lovelace-2026!", /email or username/);
      rejects("my-ada-password-x", /email or username/);
    });
    it("rejects absurdly long ones", () => rejects("x".repeat(300), /at most 256/));
  });

  describe("AES-256-GCM secret box", () => {
    const box = new SecretBox(Buffer.alloc(32, 7));

    it("round-trips, with a fresh IV each time", () => {
      const a = box.seal("client-secret", "provider-1");
      const b = box.seal("client-secret", "provider-1");
      assert.notEqual(a, b);
      assert.equal(box.open(a, "provider-1"), "client-secret");
    });

    it("refuses a ciphertext moved to another record or tampered with", () => {
      const sealed = box.seal("client-secret", "provider-1");
      assert.throws(() => box.open(sealed, "provider-2"));
      const parts = sealed.split(".");
      parts[3] = Buffer.from("tampered").toString("base64url");
      assert.throws(() => box.open(parts.join("."), "provider-1"));
      assert.throws(() => new SecretBox(Buffer.alloc(32, 8)).open(sealed, "provider-1"));
    });

    it("makes a key file once, readable only by its owner, when no key is configured", async () => {
      const dir = await mkdtemp(join(tmpdir(), "rollcall-key-"));
      try {
        const file = join(dir, "encryption.key");
        const logger = createLogger("silent");
        const first = await loadEncryptionKey(undefined, file, logger);
        const again = await loadEncryptionKey(undefined, file, logger);
        assert.equal(first.length, 32);
        assert.deepEqual(first, again);
        assert.equal((await stat(file)).mode & 0o777, 0o600);
        assert.equal(Buffer.from(await readFile(file, "utf8"), "base64").length, 32);
        const configured = Buffer.alloc(32, 1).toString("base64");
        assert.deepEqual(await loadEncryptionKey(configured, file, logger), Buffer.alloc(32, 1));
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });
  });

  it("stores opaque tokens only as SHA-256 and compares them in constant time", () => {
    const token = newOpaqueToken();
    assert.equal(Buffer.from(token, "base64url").length, 32);
    const hash = hashToken(token);
    assert.match(hash, /^[0-9a-f]{64}$/);
    assert.ok(sameHash(hash, hashToken(token)));
    assert.ok(!sameHash(hash, hashToken(newOpaqueToken())));
  });
});
