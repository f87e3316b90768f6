import { timestampDate } from "@bufbuild/protobuf/wkt";
import { status } from "@grpc/grpc-js";
import { DeviceService } from "../../../gen/rollcall/identity/v1/device_pb.js";
import { AppError } from "../../../services/runtime/errors.js";
import { createClient } from "../../../services/runtime/grpc/client.js";
import { deviceTokenError, type DeviceToken, type DeviceTokenIssuer } from "./device-token.js";

/**
 * Device tokens straight from identity over plaintext gRPC: development and the all-in-one mesh.
 * In a cluster identity serves mTLS mesh callers only; agents go through the gateway there.
 */
export class IdentityTokenIssuer implements DeviceTokenIssuer {
  readonly description: string;
  private readonly client: ReturnType<typeof createClient<typeof DeviceService>>;

  constructor(address: string, timeoutMs: number) {
    this.description = `identity at ${address}`;
    this.client = createClient(DeviceService, address, { defaultTimeoutMs: timeoutMs });
  }

  async issue(deviceId: string, secret: string): Promise<DeviceToken> {
    let answer;
    try {
      answer = await this.client.issueDeviceToken({ deviceId, secret });
    } catch (err) {
      if (err instanceof AppError) throw deviceTokenError(err.code, err.message, this.description);
      throw deviceTokenError(status.UNAVAILABLE, (err as Error).message, this.description);
    }
    if (!answer.expiresAt || !answer.accessToken) throw deviceTokenError(status.INTERNAL, "answered without a token", this.description);
    return { token: answer.accessToken, expiresAt: timestampDate(answer.expiresAt), organizationId: answer.organizationId };
  }

  close(): void {
    this.client.close();
  }
}
