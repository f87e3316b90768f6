import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { TLS_FILES } from "../../services/runtime/grpc/mesh-transport.js";

/** A test certificate authority made with openssl, issuing service certificates as cert-manager would. */
export class TestCa {
  readonly cert: string;
  private readonly key: string;

  constructor(private readonly dir: string, readonly name: string) {
    mkdirSync(dir, { recursive: true });
    this.cert = join(dir, `${name}.crt`);
    this.key = join(dir, `${name}.key`);
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1",
      "-keyout", this.key, "-out", this.cert, "-subj", `/CN=${name}`,
      "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign");
  }

  /**
   * Writes tls.crt, tls.key and ca.crt (the given CAs' certificates, default this one) into
   * `dir`, the layout of a cert-manager Secret mounted as a volume.
   */
  issue(dir: string, service: string, trust: TestCa[] = [this]): string {
    mkdirSync(dir, { recursive: true });
    const key = join(dir, TLS_FILES.privateKey);
    const csr = join(dir, "tls.csr");
    const ext = join(dir, "ext.cnf");
    writeFileSync(ext, `subjectAltName=DNS:${service},DNS:${service}.rollcall.svc,DNS:${service}.rollcall.svc.cluster.local\nextendedKeyUsage=serverAuth,clientAuth\n`);
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", csr, "-subj", `/CN=${service}`);
    const cert = join(dir, "tls.new.crt");
    openssl("x509", "-req", "-in", csr, "-CA", this.cert, "-CAkey", this.key, "-set_serial", `0x${Date.now().toString(16)}${Math.floor(Math.random() * 1e6).toString(16)}`,
      "-days", "1", "-out", cert, "-extfile", ext);
    writeFileSync(join(dir, TLS_FILES.certificate), readFileSync(cert));
    writeFileSync(join(dir, TLS_FILES.ca), trust.map((ca) => readFileSync(ca.cert, "utf8")).join(""));
    return dir;
  }
}

function openssl(...args: string[]): void {
  execFileSync("openssl", args, { stdio: ["ignore", "ignore", "pipe"] });
}
