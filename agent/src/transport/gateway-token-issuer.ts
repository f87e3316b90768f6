import { Code, ConnectError, createClient, type Client } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { status } from "@grpc/grpc-js";
import { DeviceService } from "../../../gen/rollcall/identity/v1/device_pb.js";
import { deviceTokenError, type DeviceToken, type DeviceTokenIssuer } from "./device-token.js";

/**
 * Device tokens through the public gateway: one Connect unary call (JSON over HTTP/1.1 or
 * HTTPS), the only way in for an agent in a cluster, where identity serves mTLS mesh callers only
 * and the NetworkPolicy lets agents reach NATS and the gateway. No bearer token: this call is the
 * credential exchange.
 */
export class GatewayTokenIssuer implements DeviceTokenIssuer {
  readonly description: string;
  private readonly client: Client<typeof DeviceService>;

  constructor(baseUrl: string, private readonly timeoutMs: number) {
    this.description = `the gateway at ${baseUrl}`;
    this.client = createClient(DeviceService, createConnectTransport({ baseUrl, httpVersion: "1.1", useBinaryFormat: false }));
  }

  async issue(deviceId: string, secret: string): Promise<DeviceToken> {
    try {
      const answer = await this.client.issueDeviceToken({ deviceId, secret }, { timeoutMs: this.timeoutMs });
      if (!answer.accessToken || !answer.expiresAt) throw new ConnectError("answered without a token", Code.Internal);
      return { token: answer.accessToken, expiresAt: timestampDate(answer.expiresAt), organizationId: answer.organizationId };
    } catch (err) {
      const error = ConnectError.from(err);
      // Connect and gRPC number their codes alike; a network failure's message is Node's reason
      // (refused, DNS, TLS), a proxy's error page is read by its HTTP status.
      throw deviceTokenError(error.code as number as status, error.rawMessage, this.description);
    }
  }

  close(): void {}
}
