import { timestampDate } from "@bufbuild/protobuf/wkt";
import { AuthService } from "../../gen/rollcall/identity/v1/auth_pb.js";
import type { ServiceName } from "./config.js";
import type { MeshClients } from "./mesh-clients.js";

/** Renew this long before expiry, so a token never expires during a call. */
const RENEW_BEFORE_MS = 60_000;

/**
 * A service's own access token, for calls it makes on its own behalf (a bus consumer, a
 * scheduled job: no caller whose token could be passed on). Exchanged with identity for the
 * mesh's shared service secret and reused until close to expiry; concurrent askers share one
 * exchange.
 */
export class ServiceTokens {
  private current: { token: string; renewAt: number } | undefined;
  private pending: Promise<string> | undefined;

  constructor(private readonly clients: MeshClients, private readonly serviceName: ServiceName, private readonly secret: string) {}

  async token(): Promise<string> {
    if (this.current && this.current.renewAt > Date.now()) return this.current.token;
    this.pending ??= this.exchange().finally(() => (this.pending = undefined));
    return this.pending;
  }

  private async exchange(): Promise<string> {
    const res = await this.clients.get(AuthService).issueServiceToken({ serviceName: this.serviceName, secret: this.secret }, { timeoutMs: 5_000 });
    const expiresAt = res.expiresAt ? timestampDate(res.expiresAt).getTime() : Date.now();
    this.current = { token: res.accessToken, renewAt: Math.max(Date.now(), expiresAt - RENEW_BEFORE_MS) };
    return res.accessToken;
  }
}
