import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { parse } from "yaml";
import { ROOT, hasKubectl, modelModule, renderDir, unknownFields, type K8sObject } from "./manifests.js";

type Container = { name: string; image?: string; args?: string[]; env?: { name: string; value?: string }[]; ports?: { name?: string; containerPort: number }[]; securityContext?: Record<string, unknown>; resources?: { requests?: object; limits?: object }; readinessProbe?: object; livenessProbe?: object; startupProbe?: object };
type PodSpec = { containers: Container[]; initContainers?: Container[]; securityContext?: Record<string, unknown>; volumes?: { secret?: object }[] };

const podSpec = (o: K8sObject) => o.spec!.template!.spec as unknown as PodSpec;
const MESH = ["identity", "authz", "vision", "attendance", "audit"];
/** What is rendered and checked: the two overlays, and prod with the optional NATS exporter. */
const RENDERS: Record<string, string> = { dev: "k8s/overlays/dev", prod: "k8s/overlays/prod", "prod+nats-exporter": "k8s/examples/prod-with-nats-exporter" };
/**
 * The JetStream series prometheus-nats-exporter serves with `-prefix nats -jsz consumers`
 * (its collector/jsz.go: the jetstream_ namespace, replaced by the prefix).
 */
const EXPORTER_SERIES = [
  "server_jetstream_disabled", "server_total_streams", "server_total_consumers", "server_total_messages", "server_total_message_bytes", "server_max_memory", "server_max_storage",
  "stream_total_messages", "stream_total_bytes", "stream_first_seq", "stream_last_seq", "stream_consumer_count",
  "consumer_delivered_consumer_seq", "consumer_delivered_stream_seq", "consumer_num_ack_pending", "consumer_num_redelivered", "consumer_num_waiting", "consumer_num_pending", "consumer_ack_floor_stream_seq", "consumer_ack_floor_consumer_seq",
].map((name) => `nats_${name}`);
const env = (c: Container, name: string) => c.env?.find((e) => e.name === name)?.value;

describe("k8s manifests (kustomize base + overlays)", function () {
  this.timeout(60_000);
  const rendered: Record<string, K8sObject[]> = {};

  before(function () {
    if (!hasKubectl()) this.skip(); // kubectl (with its built-in kustomize) is not on this machine
    for (const [name, dir] of Object.entries(RENDERS)) rendered[name] = renderDir(dir);
  });

  for (const name of Object.keys(RENDERS)) {
    const prod = name !== "dev";
    describe(`overlay ${name}`, () => {
      const objects = () => rendered[name]!;
      const workloads = () => objects().filter((o) => ["Deployment", "DaemonSet", "StatefulSet"].includes(o.kind));
      const rollcall = () => workloads().filter((o) => o.metadata.labels?.["app.kubernetes.io/part-of"] === "rollcall");

      it("every object passes the Kubernetes schema (kubernetes-models)", async () => {
        for (const obj of objects()) {
          const module = modelModule(obj);
          if (!module) continue; // cert-manager: checked below by shape
          const Model = (await import(module))[obj.kind] as new (o: unknown) => { validate(): void };
          assert.ok(Model, `no model for ${obj.apiVersion} ${obj.kind}`);
          assert.doesNotThrow(() => new Model(obj).validate(), `${obj.kind}/${obj.metadata.name}`);
        }
      });

      it("no object has a field the schema does not know", () => {
        assert.deepEqual(unknownFields(objects()), []);
      });

      it("runs each mesh service as a Deployment behind a headless Service with named grpc and metrics ports", () => {
        for (const name of MESH) {
          const svc = objects().find((o) => o.kind === "Service" && o.metadata.name === name);
          assert.ok(svc, `Service ${name}`);
          assert.equal((svc.spec as { clusterIP?: string }).clusterIP, "None");
          assert.deepEqual((svc.spec as { ports: { name: string }[] }).ports.map((p) => p.name).sort(), ["grpc", "metrics"]);
          const deployment = objects().find((o) => o.kind === "Deployment" && o.metadata.name === name);
          assert.ok(deployment, `Deployment ${name}`);
          assert.deepEqual(podSpec(deployment).initContainers?.map((c) => (c as { args?: string[] }).args), [["migrate", name]]);
          assert.ok(objects().some((o) => o.kind === "PodDisruptionBudget" && o.metadata.name === name), `PDB ${name}`);
        }
        const gatewayIngress = objects().find((o) => o.kind === "Ingress");
        assert.equal(JSON.stringify(gatewayIngress?.spec).includes('"name":"gateway"'), true);
      });

      it("autoscales identity, authz and vision", () => {
        const hpas = objects().filter((o) => o.kind === "HorizontalPodAutoscaler").map((o) => o.metadata.name).sort();
        assert.deepEqual(hpas, ["authz", "identity", "vision"]);
      });

      it("hardens every Rollcall container and gives it probes and resources", () => {
        assert.ok(rollcall().length >= 7);
        for (const w of rollcall()) {
          const spec = podSpec(w);
          assert.equal(spec.securityContext?.runAsNonRoot, true, w.metadata.name);
          for (const c of [...spec.containers, ...(spec.initContainers ?? [])]) {
            const where = `${w.metadata.name}/${c.name}`;
            const sc = c.securityContext ?? {};
            assert.equal(sc.allowPrivilegeEscalation, false, where);
            assert.equal(sc.readOnlyRootFilesystem, true, where);
            assert.equal(sc.runAsNonRoot, true, where);
            assert.deepEqual((sc.capabilities as { drop: string[] }).drop, ["ALL"], where);
            assert.deepEqual(sc.seccompProfile, { type: "RuntimeDefault" }, where);
            assert.ok(c.resources?.requests && c.resources.limits, `${where} resources`);
          }
          for (const c of spec.containers) assert.ok(c.readinessProbe && c.livenessProbe, `${w.metadata.name}/${c.name} probes`);
        }
        const vision = rollcall().find((o) => o.metadata.name === "vision")!;
        assert.ok(podSpec(vision).containers[0]!.startupProbe, "vision loads models: startup probe");
        const agent = rollcall().find((o) => o.kind === "DaemonSet" && o.metadata.name === "agent")!;
        assert.deepEqual((agent.spec!.template!.spec as { nodeSelector: object }).nodeSelector, { "rollcall.io/camera": "true" });
      });

      it("references Secrets and never carries secret values", () => {
        assert.deepEqual(objects().filter((o) => o.kind === "Secret"), []);
        const config = objects().find((o) => o.kind === "ConfigMap" && o.metadata.name === "rollcall-config")!;
        for (const [key, value] of Object.entries(config.data ?? {})) {
          assert.doesNotMatch(`${key}=${value}`, /SECRET|PASSWORD|ENCRYPTION_KEY|:\/\/[^/]*:[^/]*@/i);
        }
      });

      it("lets only the gateway in from outside, services only from the mesh, agents out to NATS and the gateway", () => {
        const policies = objects().filter((o) => o.kind === "NetworkPolicy");
        const names = policies.map((p) => p.metadata.name);
        for (const policy of ["default-deny-ingress", "gateway-from-outside", "services-from-mesh", "agent-egress"]) assert.ok(names.includes(policy), policy);
        const deny = policies.find((p) => p.metadata.name === "default-deny-ingress")!;
        assert.deepEqual(deny.spec, { podSelector: {}, policyTypes: ["Ingress"] });
        // Agents: NATS, DNS, and the gateway's HTTP port (the device-token exchange); never identity.
        const egress = (policies.find((p) => p.metadata.name === "agent-egress")!.spec as { egress: { to?: { podSelector: { matchLabels: Record<string, string> } }[]; ports: { port: number }[] }[] }).egress;
        const reach = egress.map((rule) => `${rule.to?.map((t) => t.podSelector.matchLabels["app.kubernetes.io/component"]).join(",") ?? "*"}:${rule.ports.map((p) => p.port).join(",")}`);
        assert.deepEqual(reach.sort(), ["*:4222", "*:53,53", "gateway:8080"]);
        const gatewayService = objects().find((o) => o.kind === "Service" && o.metadata.name === "gateway")!;
        assert.ok((gatewayService.spec as { ports: { name: string; port: number }[] }).ports.some((p) => p.name === "http" && p.port === 8080));
        const gatewayIn = policies.find((p) => p.metadata.name === "gateway-from-outside")!.spec as { ingress: { from?: unknown }[] };
        assert.ok(gatewayIn.ingress.some((rule) => rule.from === undefined), "the gateway admits agents (and everyone) on its http port");
        const agent = podSpec(objects().find((o) => o.kind === "DaemonSet" && o.metadata.name === "agent")!).containers[0]!;
        assert.equal(env(agent, "ROLLCALL_AGENT_GATEWAY_URL"), "http://gateway:8080");
        assert.equal(env(agent, "ROLLCALL_IDENTITY_ADDR"), undefined, "agents cannot reach identity");
      });

      it("exports NATS's JetStream consumer backlogs for the alerts, scraped by Prometheus", () => {
        const exporters = workloads().flatMap((w) => podSpec(w).containers.filter((c) => c.name === "nats-exporter").map((c) => ({ w, c })));
        if (name === "prod") return assert.deepEqual(exporters, [], "prod's NATS is external: the exporter is the optional component");
        assert.equal(exporters.length, 1);
        const { w, c } = exporters[0]!;
        assert.match(c.image!, /^natsio\/prometheus-nats-exporter:\d+\.\d+\.\d+$/);
        const args = c.args!.join(" ");
        assert.match(args, /-prefix nats /, "nats_consumer_* as the rules name them");
        assert.match(args, /-jsz consumers /);
        const port = c.ports!.find((p) => p.name === "metrics")!.containerPort;
        const annotations = (w.spec!.template as unknown as { metadata: { annotations: Record<string, string>; labels: Record<string, string> } }).metadata;
        assert.equal(annotations.annotations["prometheus.io/scrape"], "true");
        assert.equal(annotations.annotations["prometheus.io/port"], String(port));
        const monitors = objects().filter((o) => o.kind === "PodMonitor");
        const scraping = monitors.filter((m) => {
          const spec = m.spec as { selector: { matchLabels: Record<string, string> }; podMetricsEndpoints: { port: string }[] };
          return Object.entries(spec.selector.matchLabels).every(([k, v]) => annotations.labels[k] === v) && spec.podMetricsEndpoints.some((e) => e.port === "metrics");
        });
        assert.equal(scraping.length, 1, "one PodMonitor scrapes the exporter's metrics port");
        if (name === "dev") {
          const nats = podSpec(w).containers.find((x) => x.name === "nats")!;
          assert.match(nats.args!.join(" "), /-m 8222/, "NATS serves the monitoring endpoints");
          assert.ok(args.endsWith("http://127.0.0.1:8222"));
          const admits = objects().find((o) => o.kind === "NetworkPolicy" && o.metadata.name === "dependencies-from-rollcall")!.spec as { ingress: { from: { namespaceSelector?: { matchLabels: Record<string, string> } }[]; ports?: { port: string }[] }[] };
          assert.ok(admits.ingress.some((r) => r.from.some((f) => f.namespaceSelector?.matchLabels["kubernetes.io/metadata.name"] === "monitoring") && r.ports?.some((p) => p.port === "metrics")), "Prometheus may scrape the exporter");
        } else {
          assert.equal(w.kind, "Deployment");
          assert.ok(args.endsWith("$(NATS_MONITORING_URL)"));
        }
      });

      it("uses mTLS in prod and plaintext only where the dev overlay says so", () => {
        const config = objects().find((o) => o.kind === "ConfigMap" && o.metadata.name === "rollcall-config")!;
        assert.equal(config.data!.ROLLCALL_MESH_TRANSPORT, prod ? "mtls" : "plaintext");
        assert.equal(objects().filter((o) => o.kind === "Certificate").length, prod ? 6 : 0);
      });
    });
  }

  it("reports a field the Kubernetes schema does not know", () => {
    const deployment = rendered.prod!.find((o) => o.kind === "Deployment")!;
    const broken = structuredClone(deployment);
    (podSpec(broken).containers[0] as unknown as Record<string, unknown>).imagePullPolicyy = "Always";
    const problems = unknownFields([broken]);
    assert.equal(problems.length, 1);
    assert.match(problems[0]!, /imagePullPolicyy/);
  });

  it("the PrometheusRule carries exactly k8s/monitoring/rules.yml, and promtool accepts it", function () {
    const rule = rendered.prod!.find((o) => o.kind === "PrometheusRule")!;
    assert.deepEqual(rule.spec, parse(readFileSync(`${ROOT}k8s/monitoring/rules.yml`, "utf8")));
    try {
      execFileSync("promtool", ["--version"], { stdio: "ignore" });
    } catch {
      this.skip();
    }
    const out = execFileSync("promtool", ["check", "rules", `${ROOT}k8s/monitoring/rules.yml`], { encoding: "utf8" });
    assert.match(out, /SUCCESS: \d+ rules found/);
  });

  it("the alerts read only NATS series the exporter serves", () => {
    const rules = readFileSync(`${ROOT}k8s/monitoring/rules.yml`, "utf8").split("\n").filter((line) => !line.trim().startsWith("#")).join("\n");
    const used = [...new Set(rules.match(/\bnats_[a-z_]+/g) ?? [])];
    assert.ok(used.includes("nats_consumer_num_pending"), "the backlog alerts");
    for (const series of used) assert.ok(EXPORTER_SERIES.includes(series), `${series} is not served by prometheus-nats-exporter -prefix nats -jsz consumers`);
  });

  it("the single-camera example is a valid, hardened Deployment", async () => {
    const { parseYaml } = await import("./manifests.js");
    const objects = parseYaml(readFileSync(`${ROOT}k8s/examples/single-camera-agent.yaml`, "utf8"));
    assert.deepEqual(unknownFields(objects), []);
    const { Deployment } = await import("kubernetes-models/apps/v1/Deployment");
    new Deployment(objects[0] as never).validate();
    const agent = podSpec(objects[0]!).containers[0]!;
    assert.equal((agent.securityContext as { readOnlyRootFilesystem: boolean }).readOnlyRootFilesystem, true);
    assert.equal(env(agent, "ROLLCALL_AGENT_GATEWAY_URL"), "http://gateway:8080", "device tokens through the gateway");
    assert.equal(env(agent, "ROLLCALL_IDENTITY_ADDR"), undefined);
    assert.equal((objects[0]!.spec!.template as unknown as { metadata: { labels: Record<string, string> } }).metadata.labels["app.kubernetes.io/component"], "agent", "the agent-egress NetworkPolicy applies");
  });
});
