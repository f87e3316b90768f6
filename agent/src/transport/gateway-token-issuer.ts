import { create, fromJson, toJson, type JsonValue } from "@bufbuild/protobuf";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { status } from "@grpc/grpc-js";
import { IssueDeviceTokenRequestSchema, IssueDeviceTokenResponseSchema } from "../../../gen/rollcall/identity/v1/device_pb.js";
import { deviceTokenError, type DeviceToken, type DeviceTokenIssuer } from "./device-token.js";

const PATH = "rollcall.identity.v1.DeviceService/IssueDeviceToken";

/**
 * Device tokens through the public gateway: one Connect unary call (JSON POST over HTTP/1.1 or
 * HTTPS), the only way in for an agent in a cluster, where identity serves mTLS mesh callers only
 * and the NetworkPolicy lets agents reach NATS and the gateway. No bearer token: this call is the
 * credential exchange.
 */
export class GatewayTokenIssuer implements DeviceTokenIssuer {
  readonly description: string;
  private readonly url: string;

  constructor(baseUrl: string, private readonly timeoutMs: number) {
    this.description = `the gateway at ${baseUrl}`;
    this.url = `${baseUrl.replace(/\/+$/, "")}/${PATH}`;
  }

  async issue(deviceId: string, secret: string): Promise<DeviceToken> {
    let res: Response;
    try {
      res = await fetch(this.url, {
        method: "POST",
        headers: { "content-type": "application/json", "connect-protocol-version": "1", "connect-timeout-ms": String(this.timeoutMs) },
        body: JSON.stringify(toJson(IssueDeviceTokenRequestSchema, create(IssueDeviceTokenRequestSchema, { deviceId, secret }))),
        signal: AbortSignal.timeout(this.timeoutMs),
        redirect: "error",
      });
    } catch (err) {
      throw deviceTokenError(status.UNAVAILABLE, networkProblem(err), this.description);
    }
    const text = await res.text().catch(() => "");
    const json = parseJson(text);
    if (res.status !== 200) {
      const connect = connectError(json);
      if (connect) throw deviceTokenError(connect.code, connect.message, this.description);
      // Not the gateway speaking (an ingress or proxy page): Connect's mapping of HTTP statuses.
      throw deviceTokenError(codeForHttpStatus(res.status), `HTTP ${res.status} ${res.statusText}`.trim(), this.description);
    }
    if (json === undefined) throw deviceTokenError(status.INTERNAL, "answered with something that is not JSON", this.description);
    const answer = fromJson(IssueDeviceTokenResponseSchema, json, { ignoreUnknownFields: true });
    if (!answer.accessToken || !answer.expiresAt) throw deviceTokenError(status.INTERNAL, "answered without a token", this.description);
    return { token: answer.accessToken, expiresAt: timestampDate(answer.expiresAt), organizationId: answer.organizationId };
  }

  close(): void {}
}

function parseJson(text: string): JsonValue | undefined {
  try {
    return JSON.parse(text) as JsonValue;
  } catch {
    return undefined;
  }
}

/** A Connect error body: {"code": "unauthenticated", "message": "…"}. */
function connectError(json: JsonValue | undefined): { code: status; message: string } | undefined {
  if (typeof json !== "object" || json === null || Array.isArray(json) || typeof json.code !== "string") return undefined;
  // Connect spells gRPC's CANCELLED "canceled"; every other code is gRPC's name in lower case.
  const name = json.code === "canceled" ? "CANCELLED" : json.code.toUpperCase();
  const code = (status as unknown as Record<string, number>)[name];
  if (code === undefined) return undefined;
  return { code, message: typeof json.message === "string" ? json.message : "" };
}

/** The Connect protocol's code for an HTTP status that carries no Connect error. */
function codeForHttpStatus(httpStatus: number): status {
  switch (httpStatus) {
    case 400: return status.INTERNAL;
    case 401: return status.UNAUTHENTICATED;
    case 403: return status.PERMISSION_DENIED;
    case 404: return status.UNIMPLEMENTED;
    case 429: case 502: case 503: case 504: return status.UNAVAILABLE;
    default: return status.UNKNOWN;
  }
}

/** fetch's "fetch failed" hides the reason (refused, DNS, TLS) in its cause. */
function networkProblem(err: unknown): string {
  const e = err as Error & { cause?: Error & { code?: string } };
  if (e.name === "TimeoutError") return "no answer in time";
  const cause = e.cause;
  return cause ? `${cause.code ? `${cause.code} ` : ""}${cause.message}` : e.message;
}
