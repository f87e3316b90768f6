import { createPrivateKey, randomUUID, sign as signBytes, type KeyObject } from "node:crypto";
import { exportJWK, generateKeyPair, type JWK, type JWTPayload } from "jose";
import type { Database } from "../../runtime/db/index.js";
import { Sql } from "../../runtime/db/index.js";
import type { Logger } from "../../runtime/logger.js";
import type { SecretBox } from "../crypto/secret-box.js";

const ALGORITHM = "EdDSA";
/** Tokens signed just before a rotation must still verify on replicas with slightly skewed clocks. */
const EXPIRY_SLACK_SEC = 300;
const RELOAD_MS = 60_000;

interface SigningKey {
  kid: string;
  privateKey: KeyObject;
  /** The token header, base64url-encoded once per key. */
  header: string;
  publicJwk: JWK;
  retireAfter: Date;
  expiresAt: Date;
}

interface KeyRow {
  kid: string;
  public_jwk: JWK;
  private_jwk_enc: string;
  retire_after: Date;
  expires_at: Date;
}

/**
 * identity's JWT signing keys (Ed25519), kept in Postgres (private halves sealed) so every replica
 * signs with the same key. A key signs for `rotationSec`, then a new one takes over while the old
 * stays in the JWKS until every token it signed has expired: rotation with overlap.
 */
export class KeyRing {
  private keys: SigningKey[] = [];
  private timer: NodeJS.Timeout | undefined;
  private readonly sql: Sql;

  constructor(
    private readonly db: Database,
    private readonly box: SecretBox,
    private readonly options: { rotationSec: number; maxTokenTtlSec: number; logger: Logger },
  ) {
    this.sql = new Sql(db.sequelize);
  }

  async start(): Promise<void> {
    await this.refresh();
    this.timer = setInterval(() => {
      this.refresh().catch((err) => this.options.logger.error({ err }, "could not refresh the signing keys"));
    }, RELOAD_MS);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** Reloads the keys (other replicas may have rotated) and makes a new one when due. */
  async refresh(now = new Date()): Promise<void> {
    let rows = await this.load(now);
    if (!rows.some((r) => r.retire_after > now)) {
      await this.create(now);
      rows = await this.load(now);
    }
    this.keys = rows.map((row) => ({
      kid: row.kid,
      privateKey: createPrivateKey({ key: this.unseal(row), format: "jwk" }),
      header: base64url({ alg: ALGORITHM, kid: row.kid, typ: "at+jwt" }),
      publicJwk: row.public_jwk,
      retireAfter: new Date(row.retire_after),
      expiresAt: new Date(row.expires_at),
    }));
  }

  private unseal(row: KeyRow): JWK {
    try {
      return JSON.parse(this.box.open(row.private_jwk_enc, row.kid)) as JWK;
    } catch {
      throw new Error(`signing key ${row.kid} in the database was sealed with another encryption key: ` +
        "set ROLLCALL_ENCRYPTION_KEY (or the data directory's encryption.key) to the key this database was used with");
    }
  }

  /** The public keys of every key whose tokens may still be valid (RFC 7517). */
  jwks(): { keys: JWK[] } {
    const now = Date.now();
    return { keys: this.keys.filter((k) => k.expiresAt.getTime() > now).map((k) => k.publicJwk) };
  }

  /**
   * Signs claims with the current key: a compact JWS (RFC 7515) over Ed25519, signed with
   * node:crypto directly. Through WebCrypto (jose's SignJWT) the same signature cost twice the
   * CPU and an extra trip through the thread pool on every login and refresh.
   */
  async sign(claims: JWTPayload, ttlSec: number, now = new Date()): Promise<{ token: string; expiresAt: Date }> {
    const key = this.current(now);
    const issuedAt = Math.floor(now.getTime() / 1000);
    const expiresAt = new Date((issuedAt + ttlSec) * 1000);
    const input = `${key.header}.${base64url({ ...claims, iat: issuedAt, exp: issuedAt + ttlSec })}`;
    const signature = signBytes(null, Buffer.from(input), key.privateKey).toString("base64url");
    return { token: `${input}.${signature}`, expiresAt };
  }

  private current(now: Date): SigningKey {
    // Newest first: the key that took over most recently signs.
    const key = this.keys.filter((k) => k.retireAfter > now).sort((a, b) => b.retireAfter.getTime() - a.retireAfter.getTime())[0];
    if (!key) throw new Error("no signing key is active; the key ring was not refreshed");
    return key;
  }

  private load(now: Date): Promise<KeyRow[]> {
    return this.db.withSystem((tx) =>
      this.sql.rows<KeyRow>(tx, "SELECT kid, public_jwk, private_jwk_enc, retire_after, expires_at FROM identity.signing_keys WHERE expires_at > $1", [now]));
  }

  private async create(now: Date): Promise<void> {
    const kid = randomUUID();
    const { publicKey, privateKey } = await generateKeyPair(ALGORITHM, { crv: "Ed25519", extractable: true });
    const publicJwk = { ...(await exportJWK(publicKey)), kid, alg: ALGORITHM, use: "sig" };
    const sealed = this.box.seal(JSON.stringify(await exportJWK(privateKey)), kid);
    const retireAfter = new Date(now.getTime() + this.options.rotationSec * 1000);
    const expiresAt = new Date(retireAfter.getTime() + (this.options.maxTokenTtlSec + EXPIRY_SLACK_SEC) * 1000);
    await this.db.withSystem((tx) =>
      this.sql.execute(tx, "INSERT INTO identity.signing_keys (kid, algorithm, public_jwk, private_jwk_enc, retire_after, expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
        [kid, ALGORITHM, JSON.stringify(publicJwk), sealed, retireAfter, expiresAt]));
    this.options.logger.info({ kid, retireAfter }, "created a new signing key");
  }
}

const base64url = (value: object): string => Buffer.from(JSON.stringify(value)).toString("base64url");
