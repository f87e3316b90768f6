import { randomUUID } from "node:crypto";
import type { RollcallClaims } from "../../runtime/auth/caller.js";
import type { KeyRing } from "./key-ring.js";

export interface IssuedToken {
  token: string;
  expiresAt: Date;
  jti: string;
}

export interface TokenIssuerOptions {
  issuer: string;
  audience: string;
  accessTokenTtlSec: number;
  deviceTokenTtlSec: number;
}

/** Mints the access tokens the auth interceptor of every service verifies. */
export class TokenIssuer {
  private readonly serviceTokens = new Map<string, IssuedToken>();

  constructor(private readonly keys: KeyRing, private readonly options: TokenIssuerOptions) {}

  /** `jti` is chosen by the caller when the session row recording it is written first. */
  forUser(user: { id: string; organizationId: string; roles: string[]; staff: boolean }, sessionId: string, jti: string = randomUUID()): Promise<IssuedToken> {
    const claims: RollcallClaims = { typ: "user", org: user.organizationId, sid: sessionId, roles: user.roles };
    if (user.staff) claims.staff = true;
    return this.mint(user.id, claims, this.options.accessTokenTtlSec, jti);
  }

  /** A camera's token: it can only publish frames as itself (vision checks subject = device id). */
  forDevice(device: { id: string; organizationId: string }): Promise<IssuedToken> {
    return this.mint(device.id, { typ: "device", org: device.organizationId, roles: ["DEVICE"] }, this.options.deviceTokenTtlSec);
  }

  /** A service's token for calls to other services (cached per service until close to expiry). */
  async forService(name = "identity"): Promise<string> {
    return (await this.issueForService(name)).token;
  }

  async issueForService(name: string): Promise<IssuedToken> {
    let issued = this.serviceTokens.get(name);
    if (!issued || issued.expiresAt.getTime() - Date.now() < 60_000) {
      issued = await this.mint(name, { typ: "service" }, this.options.accessTokenTtlSec);
      this.serviceTokens.set(name, issued);
    }
    return issued;
  }

  private async mint(subject: string, claims: RollcallClaims, ttlSec: number, jti: string = randomUUID()): Promise<IssuedToken> {
    const { token, expiresAt } = await this.keys.sign(
      { ...claims, sub: subject, jti, iss: this.options.issuer, aud: this.options.audience },
      ttlSec,
    );
    return { token, expiresAt, jti };
  }
}
