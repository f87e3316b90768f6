import { readFileSync } from "node:fs";
import { X509Certificate, createPrivateKey } from "node:crypto";
import { join } from "node:path";
import type { PeerCertificate } from "node:tls";
import { ServerCredentials, credentials, experimental, type ChannelCredentials } from "@grpc/grpc-js";
import type { MeshConfig } from "../config.js";

/**
 * How this process's gRPC server and clients secure the mesh. With mTLS every connection
 * presents a certificate signed by the mesh CA, and the certificate names the service: its
 * DNS SANs (`authz`, `authz.rollcall.svc`, ...), whose first label is the service identity.
 */
export interface MeshTransport {
  readonly kind: MeshConfig["transport"];
  /** This process's own identities (from its certificate); empty in plaintext. */
  readonly identities: readonly string[];
  serverCredentials(): ServerCredentials;
  /** For a channel to `service`: with mTLS the server must prove it is that service. */
  channelCredentials(service?: string): ChannelCredentials;
}

export const TLS_FILES = { certificate: "tls.crt", privateKey: "tls.key", ca: "ca.crt" } as const;

export function meshTransport(config: MeshConfig): MeshTransport {
  return config.transport === "mtls" ? new MutualTls(config.tlsDir, config.tlsRefreshMs) : PLAINTEXT;
}

/** Development only: no encryption, no identities (internal-only methods are not enforced). */
export const PLAINTEXT: MeshTransport = {
  kind: "plaintext",
  identities: [],
  serverCredentials: () => ServerCredentials.createInsecure(),
  channelCredentials: () => credentials.createInsecure(),
};

class MutualTls implements MeshTransport {
  readonly kind = "mtls" as const;
  readonly identities: readonly string[];
  private readonly provider: experimental.FileWatcherCertificateProvider;

  constructor(dir: string, refreshIntervalMs: number) {
    const files = {
      certificateFile: join(dir, TLS_FILES.certificate),
      privateKeyFile: join(dir, TLS_FILES.privateKey),
      caCertificateFile: join(dir, TLS_FILES.ca),
    };
    this.identities = checkFiles(files);
    // Re-reads the files on an interval: a rotated Secret (cert-manager renews in place, the
    // kubelet swaps the mounted files atomically) is used by new connections without a restart.
    this.provider = new experimental.FileWatcherCertificateProvider({ ...files, refreshIntervalMs });
  }

  serverCredentials(): ServerCredentials {
    return experimental.createCertificateProviderServerCredentials(this.provider, this.provider, true);
  }

  channelCredentials(service?: string): ChannelCredentials {
    return experimental.createCertificateProviderChannelCredentials(this.provider, this.provider, {
      // The address may be a pod IP or a list of them: what is checked is who the server is.
      checkServerIdentity: (_host, cert) => {
        if (service === undefined || certificateIdentities(cert).includes(service)) return undefined;
        return new Error(`the server's certificate is not for service ${service} (it names ${certificateIdentities(cert).join(", ") || "nothing"})`);
      },
    });
  }
}

/** Fails the start with a clear message rather than every later handshake with a vague one. */
function checkFiles(files: { certificateFile: string; privateKeyFile: string; caCertificateFile: string }): string[] {
  const read = (path: string, what: string) => {
    try {
      return readFileSync(path);
    } catch (err) {
      throw new Error(`mTLS: cannot read the ${what} ${path} (set ROLLCALL_TLS_DIR, or ROLLCALL_MESH_TRANSPORT=plaintext for development): ${(err as Error).message}`);
    }
  };
  const certificate = new X509Certificate(read(files.certificateFile, "certificate"));
  new X509Certificate(read(files.caCertificateFile, "CA certificate"));
  if (!certificate.checkPrivateKey(createPrivateKey(read(files.privateKeyFile, "private key")))) {
    throw new Error(`mTLS: ${files.privateKeyFile} is not the key of ${files.certificateFile}`);
  }
  const identities = certificateIdentities({ subjectaltname: certificate.subjectAltName, subject: { CN: /CN=([^\n,]+)/.exec(certificate.subject)?.[1] } });
  if (identities.length === 0) throw new Error(`mTLS: ${files.certificateFile} names no service (no DNS SAN and no CN)`);
  return identities;
}

/**
 * The service identities a certificate proves: the first label of each DNS SAN
 * (`authz.rollcall.svc.cluster.local` → `authz`), or of the CN when it has no DNS SAN.
 */
export function certificateIdentities(cert: Pick<PeerCertificate, "subjectaltname"> & { subject?: { CN?: string | string[] } }): string[] {
  const dns = (cert.subjectaltname ?? "")
    .split(",")
    .map((entry) => entry.trim())
    .filter((entry) => entry.startsWith("DNS:"))
    .map((entry) => entry.slice(4));
  const cn = cert.subject?.CN;
  const names = dns.length > 0 ? dns : [Array.isArray(cn) ? cn[0] : cn].filter((n): n is string => !!n);
  return [...new Set(names.map((name) => name.split(".")[0]!.toLowerCase()).filter(Boolean))];
}
