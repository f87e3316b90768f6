import { Algorithm, hash as argon2Hash, parseOptions, verify as argon2Verify } from "@node-rs/argon2";
import { invalidArgument } from "../../runtime/errors.js";

export interface Argon2Params {
  memoryKiB: number;
  timeCost: number;
  parallelism: number;
}

/**
 * argon2id password hashing. Hashes carry their parameters, so when the configured ones change,
 * `verify` says `needsRehash` and the caller stores a new hash after the next successful login.
 */
export class PasswordHasher {
  private dummy: Promise<string> | undefined;

  constructor(private readonly params: Argon2Params) {}

  hash(password: string): Promise<string> {
    return argon2Hash(password, {
      algorithm: Algorithm.Argon2id,
      memoryCost: this.params.memoryKiB,
      timeCost: this.params.timeCost,
      parallelism: this.params.parallelism,
    });
  }

  async verify(hash: string, password: string): Promise<{ ok: boolean; needsRehash: boolean }> {
    const ok = await argon2Verify(hash, password).catch(() => false);
    return { ok, needsRehash: ok && this.isWeakerThanConfigured(hash) };
  }

  private isWeakerThanConfigured(hash: string): boolean {
    const stored = parseOptions(hash);
    return stored.algorithm !== Algorithm.Argon2id
      || stored.memoryCost !== this.params.memoryKiB
      || stored.timeCost !== this.params.timeCost
      || stored.parallelism !== this.params.parallelism;
  }

  /** Spends the same time as a real verify, for logins of users that do not exist. */
  async verifyNothing(password: string): Promise<void> {
    this.dummy ??= this.hash("rollcall-dummy-password-for-timing");
    await argon2Verify(await this.dummy, password).catch(() => false);
  }
}

export const PASSWORD_MIN_LENGTH = 12;
export const PASSWORD_MAX_LENGTH = 256;

/** A short list of the most common passwords of at least 12 characters (from public breach corpora). */
const COMMON_PASSWORDS = new Set([
  "123456789012", "1234567890123", "12345678901234", "qwertyuiopas", "qwerty123456", "password1234",
  "password12345", "password123456", "passwordpassword", "iloveyou1234", "123123123123", "111111111111",
  "000000000000", "abc123abc123", "qwertyqwerty", "1q2w3e4r5t6y", "1qaz2wsx3edc", "zaq12wsxcde3",
  "letmein12345", "welcome12345", "administrator", "adminadmin123", "changeme1234", "football1234",
  "baseball1234", "monkey123456", "dragon123456", "sunshine1234", "princess1234", "trustno11234",
  "superman1234", "aaaaaaaaaaaa", "asdfghjklzxc", "asdfasdfasdf", "q1w2e3r4t5y6", "p@ssw0rd1234",
  "p@ssword1234", "passw0rd1234", "1234qwerasdf", "qazwsxedcrfv",
]);

/**
 * The password policy: length 12–256, not one of the commonest passwords, and not the user's own
 * email, username or email name. Throws INVALID_ARGUMENT naming what is wrong.
 */
export function checkPasswordPolicy(password: string, user: { email: string; username: string }, field = "password"): void {
  if (password.length < PASSWORD_MIN_LENGTH) throw invalidArgument(field, `must be at least ${PASSWORD_MIN_LENGTH} characters`);
  if (password.length > PASSWORD_MAX_LENGTH) throw invalidArgument(field, `must be at most ${PASSWORD_MAX_LENGTH} characters`);
  const lower = password.toLowerCase();
  if (COMMON_PASSWORDS.has(lower)) throw invalidArgument(field, "is one of the most common passwords; choose another");
  const personal = [user.email, user.username, user.email.split("@")[0] ?? ""].map((s) => s.toLowerCase()).filter((s) => s.length >= 3);
  if (personal.some((s) => lower.includes(s))) throw invalidArgument(field, "must not contain your email or username");
}
