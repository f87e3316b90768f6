import { status } from "@grpc/grpc-js";

export interface DeviceToken {
  token: string;
  expiresAt: Date;
  organizationId: string;
}

/** Exchanges the device id and secret for a token: identity over gRPC, or the public gateway. */
export interface DeviceTokenIssuer {
  /** Where tokens come from, for messages ("identity at host:port", "the gateway at URL"). */
  readonly description: string;
  issue(deviceId: string, secret: string): Promise<DeviceToken>;
  close(): void;
}

/**
 * Why no token was issued, said so a person can act on it. `permanent` refusals (wrong secret,
 * disabled device, wrong address) do not heal by retrying; the others (unreachable, overloaded)
 * do, and the agent keeps trying.
 */
export class DeviceTokenError extends Error {
  constructor(message: string, readonly code: status, readonly permanent: boolean) {
    super(message);
    this.name = "DeviceTokenError";
  }
}

/** The refusal for a status code (gRPC's and Connect's codes are the same numbers). */
export function deviceTokenError(code: status, serverMessage: string, from: string): DeviceTokenError {
  const said = serverMessage ? `: ${serverMessage}` : "";
  switch (code) {
    case status.UNAUTHENTICATED:
      return new DeviceTokenError(`${from} refused the device id or secret${said}. Check ROLLCALL_DEVICE_ID and ROLLCALL_DEVICE_SECRET against \`rollcall device list\`; a lost secret is replaced with \`rollcall device rotate-secret <device>\``, code, true);
    case status.PERMISSION_DENIED:
      return new DeviceTokenError(`${from} will not issue tokens to this device${said}. An administrator re-enables the device or its organisation`, code, true);
    case status.INVALID_ARGUMENT:
      return new DeviceTokenError(`${from} rejected the token request${said}`, code, true);
    case status.NOT_FOUND:
    case status.UNIMPLEMENTED:
      return new DeviceTokenError(`${from} does not serve rollcall.identity.v1.DeviceService/IssueDeviceToken${said}. Is the address the Rollcall gateway's base URL (or identity's gRPC address)?`, code, true);
    case status.RESOURCE_EXHAUSTED:
      return new DeviceTokenError(`${from} is rate-limiting token requests${said}; retrying`, code, false);
    case status.UNAVAILABLE:
    case status.DEADLINE_EXCEEDED:
      return new DeviceTokenError(`${from} is unreachable or cannot reach identity${said}; retrying`, code, false);
    default:
      return new DeviceTokenError(`${from} failed to issue a device token (${status[code] ?? code})${said}; retrying`, code, false);
  }
}

/** How long a permanent refusal is repeated without asking again (each refusal is an audited failed login). */
export const REFUSAL_HOLD_MS = 30_000;

/**
 * The device's access token, fetched again once half of its lifetime has passed, so a message
 * published with it stays valid while it waits in the stream.
 */
export class DeviceTokens {
  private current: DeviceToken | undefined;
  private issuedAt = 0;
  private inFlight: Promise<DeviceToken> | undefined;
  private refused: { error: DeviceTokenError; until: number } | undefined;

  constructor(private readonly deviceId: string, private readonly secret: string, readonly issuer: DeviceTokenIssuer) {}

  /** A valid token, fetching one when there is none or it is past half-life; throws DeviceTokenError when none can be had. */
  async get(now = Date.now()): Promise<DeviceToken> {
    const token = this.current;
    if (token && now < this.issuedAt + (token.expiresAt.getTime() - this.issuedAt) / 2) return token;
    this.inFlight ??= this.fetch().finally(() => (this.inFlight = undefined));
    try {
      return await this.inFlight;
    } catch (err) {
      // The issuer briefly away: a token that has not expired is still good to use.
      if (token && now < token.expiresAt.getTime() - 5_000) return token;
      throw err;
    }
  }

  close(): void {
    this.issuer.close();
  }

  private async fetch(): Promise<DeviceToken> {
    const issuedAt = Date.now();
    if (this.refused && issuedAt < this.refused.until) throw this.refused.error;
    let token: DeviceToken;
    try {
      token = await this.issuer.issue(this.deviceId, this.secret);
    } catch (err) {
      // A wrong secret stays wrong: the outbox retries every second, the issuer hears it twice a minute.
      if (err instanceof DeviceTokenError && err.permanent) this.refused = { error: err, until: Date.now() + REFUSAL_HOLD_MS };
      throw err;
    }
    this.refused = undefined;
    this.current = token;
    this.issuedAt = issuedAt;
    return token;
  }
}
