import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { parse } from "yaml";
import { ROOT, hasKubectl, modelModule, render, unknownFields, type K8sObject } from "./manifests.js";

type Container = { name: string; securityContext?: Record<string, unknown>; resources?: { requests?: object; limits?: object }; readinessProbe?: object; livenessProbe?: object; startupProbe?: object };
type PodSpec = { containers: Container[]; initContainers?: Container[]; securityContext?: Record<string, unknown>; volumes?: { secret?: object }[] };

const podSpec = (o: K8sObject) => o.spec!.template!.spec as unknown as PodSpec;
const MESH = ["identity", "authz", "vision", "attendance", "audit"];

describe("k8s manifests (kustomize base + overlays)", function () {
  this.timeout(60_000);
  const rendered: Record<string, K8sObject[]> = {};

  before(function () {
    if (!hasKubectl()) this.skip(); // kubectl (with its built-in kustomize) is not on this machine
    for (const env of ["dev", "prod"]) rendered[env] = render(env);
  });

  for (const env of ["dev", "prod"]) {
    describe(`overlay ${env}`, () => {
      const objects = () => rendered[env]!;
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

      it("lets only the gateway in from outside, services only from the mesh, agents out to NATS", () => {
        const policies = objects().filter((o) => o.kind === "NetworkPolicy");
        const names = policies.map((p) => p.metadata.name);
        for (const name of ["default-deny-ingress", "gateway-from-outside", "services-from-mesh", "agent-egress"]) assert.ok(names.includes(name), name);
        const deny = policies.find((p) => p.metadata.name === "default-deny-ingress")!;
        assert.deepEqual(deny.spec, { podSelector: {}, policyTypes: ["Ingress"] });
      });

      it("uses mTLS in prod and plaintext only where the dev overlay says so", () => {
        const config = objects().find((o) => o.kind === "ConfigMap" && o.metadata.name === "rollcall-config")!;
        assert.equal(config.data!.ROLLCALL_MESH_TRANSPORT, env === "prod" ? "mtls" : "plaintext");
        assert.equal(objects().filter((o) => o.kind === "Certificate").length, env === "prod" ? 6 : 0);
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

  it("the single-camera example is a valid, hardened Deployment", async () => {
    const { parseYaml } = await import("./manifests.js");
    const objects = parseYaml(readFileSync(`${ROOT}k8s/examples/single-camera-agent.yaml`, "utf8"));
    assert.deepEqual(unknownFields(objects), []);
    const { Deployment } = await import("kubernetes-models/apps/v1/Deployment");
    new Deployment(objects[0] as never).validate();
    assert.equal((podSpec(objects[0]!).containers[0]!.securityContext as { readOnlyRootFilesystem: boolean }).readOnlyRootFilesystem, true);
  });
});
