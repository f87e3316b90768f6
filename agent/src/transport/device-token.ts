import { timestampDate } from "@bufbuild/protobuf/wkt";
import { DeviceService } from "../../../gen/rollcall/identity/v1/device_pb.js";
import { createClient } from "../../../services/runtime/grpc/client.js";

export interface DeviceToken {
  token: string;
  expiresAt: Date;
  organizationId: string;
}

/**
 * The device's access token from identity (IssueDeviceToken), fetched again once half of its
 * lifetime has passed, so a message published with it stays valid while it waits in the stream.
 */
export class DeviceTokens {
  private current: DeviceToken | undefined;
  private issuedAt = 0;
  private inFlight: Promise<DeviceToken> | undefined;
  private readonly client: ReturnType<typeof createClient<typeof DeviceService>>;

  constructor(private readonly deviceId: string, private readonly secret: string, identityAddress: string, private readonly timeoutMs: number) {
    this.client = createClient(DeviceService, identityAddress, { defaultTimeoutMs: timeoutMs });
  }

  /** A valid token, fetching one when there is none or it is past half-life; throws when identity refuses or is unreachable. */
  async get(now = Date.now()): Promise<DeviceToken> {
    const token = this.current;
    if (token && now < this.issuedAt + (token.expiresAt.getTime() - this.issuedAt) / 2) return token;
    this.inFlight ??= this.fetch().finally(() => (this.inFlight = undefined));
    try {
      return await this.inFlight;
    } catch (err) {
      // Identity briefly away: a token that has not expired is still good to use.
      if (token && now < token.expiresAt.getTime() - 5_000) return token;
      throw err;
    }
  }

  close(): void {
    this.client.close();
  }

  private async fetch(): Promise<DeviceToken> {
    const issuedAt = Date.now();
    const answer = await this.client.issueDeviceToken({ deviceId: this.deviceId, secret: this.secret });
    if (!answer.expiresAt || !answer.accessToken) throw new Error("identity answered IssueDeviceToken without a token");
    this.current = { token: answer.accessToken, expiresAt: timestampDate(answer.expiresAt), organizationId: answer.organizationId };
    this.issuedAt = issuedAt;
    return this.current;
  }
}
