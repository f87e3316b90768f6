import type { PeerCertificate } from "node:tls";
import { permissionDenied } from "../errors.js";
import type { Caller } from "../auth/caller.js";
import { certificateIdentities } from "./mesh-transport.js";

/**
 * Which service is on the other end of a call, from its mTLS client certificate; checked on
 * methods only the mesh's own services may call (internal-only methods) and on calls made with
 * a service token, so a stolen service token is useless from outside the mesh (through the
 * gateway, the peer is the gateway). In plaintext there is no peer identity: development only.
 */
export class PeerPolicy {
  constructor(
    /** mTLS: enforce; plaintext: nothing to check against. */
    private readonly enforce: boolean,
    /** Identities that are the mesh's own services (not the gateway, not agents). */
    private readonly meshServices: ReadonlySet<string>,
  ) {}

  check(call: object, path: string, internal: boolean, caller: Caller | undefined): void {
    if (!this.enforce || (!internal && caller?.kind !== "service")) return;
    const peer = peerIdentity(call);
    if (peer !== undefined && this.meshServices.has(peer)) return;
    const who = peer === undefined ? "a caller without a service certificate" : `'${peer}'`;
    throw permissionDenied(internal
      ? `${path} is internal to the mesh: only Rollcall's services may call it, not ${who}`
      : `service tokens are accepted only from Rollcall's services, not from ${who}`);
  }
}

/** The caller's service identity, from its client certificate (undefined in plaintext). */
export function peerIdentity(call: object): string | undefined {
  const cert = (call as Partial<{ getAuthContext(): { sslPeerCertificate?: PeerCertificate } | null }>).getAuthContext?.()?.sslPeerCertificate;
  if (!cert || !cert.subject) return undefined;
  return certificateIdentities(cert)[0];
}
