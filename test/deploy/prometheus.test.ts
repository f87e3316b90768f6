import assert from "node:assert/strict";
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { AuthService } from "../../gen/rollcall/identity/v1/auth_pb.js";
import { startIdentityMesh, type IdentityMesh } from "../identity/mesh-fixture.js";
import { ROOT } from "./manifests.js";
import { freePort } from "../support/ports.js";

const has = (bin: string) => {
  try {
    execFileSync(bin, ["--version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
};

async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 40_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(250);
  }
}

/** A real Prometheus (Debian's package) scraping a running mesh with Rollcall's rules loaded. */
describe("Prometheus scrapes the mesh", function () {
  this.timeout(90_000);
  let mesh: IdentityMesh;
  let dir: string;
  let prometheus: ChildProcess | undefined;
  let api: string;

  before(async function () {
    if (!has("prometheus") || !has("promtool")) this.skip(); // .ci/run installs the Debian package
    mesh = await startIdentityMesh();
    dir = await mkdtemp(join(tmpdir(), "rollcall-prometheus-"));
    const port = await freePort();
    api = `http://127.0.0.1:${port}`;
    await writeFile(join(dir, "prometheus.yml"), [
      "global: { scrape_interval: 1s, evaluation_interval: 1s }",
      `rule_files: [${JSON.stringify(`${ROOT}k8s/monitoring/rules.yml`)}]`,
      "scrape_configs:",
      "  - job_name: rollcall",
      "    static_configs:",
      `      - targets: ["127.0.0.1:${mesh.host.adminPort}"]`,
      "        labels: { component: identity }",
    ].join("\n"));
    prometheus = spawn("prometheus", [`--config.file=${join(dir, "prometheus.yml")}`, `--storage.tsdb.path=${join(dir, "data")}`, `--web.listen-address=127.0.0.1:${port}`, "--log.level=warn"], { stdio: "ignore" });
  });

  after(async () => {
    prometheus?.kill("SIGTERM");
    if (prometheus && prometheus.exitCode === null) await new Promise((resolve) => prometheus!.once("exit", resolve));
    await mesh?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const query = async (promql: string) => {
    const res = await fetch(`${api}/api/v1/query?query=${encodeURIComponent(promql)}`);
    const body = (await res.json()) as { status: string; data: { result: { metric: Record<string, string>; value: [number, string] }[] } };
    assert.equal(body.status, "success");
    return body.data.result;
  };

  it("every /metrics passes promtool check metrics", async () => {
    const text = await (await fetch(`http://127.0.0.1:${mesh.host.adminPort}/metrics`)).text();
    const out = execFileSync("promtool", ["check", "metrics"], { input: text, encoding: "utf8" });
    assert.equal(out.trim(), "");
  });

  it("finds the target up, and the recording rules answer", async () => {
    const target = await until("the target to be up", async () => {
      const res = (await (await fetch(`${api}/api/v1/targets`)).json()) as { data: { activeTargets: { health: string; labels: Record<string, string> }[] } };
      return res.data.activeTargets.find((t) => t.health === "up");
    });
    assert.equal(target.labels.component, "identity");
    const up = await until("rollcall:targets_up:sum", async () => (await query("rollcall:targets_up:sum")).find((r) => r.metric.component === "identity"));
    assert.equal(up.value[1], "1");
    // Calls the mesh handles show up per method in the request-rate recording rule.
    const stop = Date.now() + 30_000;
    const rate = await until("rollcall:grpc_server_handled:rate5m for GetJwks", async () => {
      if (Date.now() > stop) return undefined;
      await mesh.client(AuthService).getJwks({});
      return (await query('rollcall:grpc_server_handled:rate5m{grpc_method="GetJwks",grpc_code="OK"}'))[0];
    });
    assert.ok(Number(rate.value[1]) > 0);
  });
});
