import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { ROOT } from "./manifests.js";

interface Instruction { line: number; op: string; args: string }

/** The Dockerfile as instructions (continuations joined, comments dropped), grouped by stage. */
function parseDockerfile(text: string): { args: Instruction[]; stages: { name: string; from: string; steps: Instruction[] }[] } {
  const instructions: Instruction[] = [];
  let pending = "";
  let start = 0;
  text.split("\n").forEach((raw, i) => {
    const line = raw.trim();
    if (!pending && (line === "" || line.startsWith("#"))) return;
    if (!pending) start = i + 1;
    pending += (pending ? " " : "") + line.replace(/\\$/, "").trim();
    if (line.endsWith("\\")) return;
    const [op, ...rest] = pending.split(/\s+/);
    instructions.push({ line: start, op: op!.toUpperCase(), args: rest.join(" ") });
    pending = "";
  });
  const args = instructions.filter((i, n) => i.op === "ARG" && !instructions.slice(0, n).some((p) => p.op === "FROM"));
  const stages: { name: string; from: string; steps: Instruction[] }[] = [];
  for (const ins of instructions) {
    if (ins.op === "FROM") {
      const [from, , name] = ins.args.split(/\s+/);
      stages.push({ name: name ?? String(stages.length), from: from!, steps: [] });
    } else stages.at(-1)?.steps.push(ins);
  }
  return { args, stages };
}

describe("Dockerfile", () => {
  const { args, stages } = parseDockerfile(readFileSync(`${ROOT}Dockerfile`, "utf8"));
  const stage = (name: string) => stages.find((s) => s.name === name)!;
  const base = args.find((a) => a.args.startsWith("NODE_IMAGE="))?.args.split("=")[1] ?? "";

  it("builds once and ships two runtime targets: mesh and agent", () => {
    assert.deepEqual(stages.map((s) => s.name), ["build", "production-modules", "agent-build", "base", "mesh", "agent"]);
    assert.equal(stage("mesh").from, "base");
    assert.equal(stage("agent").from, "base");
    assert.equal(stage("production-modules").from, "build");
    assert.equal(stage("agent-build").from, "build");
    const copies = (target: string) => stage(target).steps.filter((s) => s.op === "COPY").map((s) => /--from=(\S+)/.exec(s.args)?.[1]);
    // The mesh image needs neither the agent's OpenCV build nor the dev dependencies.
    assert.deepEqual([...new Set(copies("mesh"))].sort(), ["build", "production-modules"]);
    assert.deepEqual([...new Set(copies("agent"))].sort(), ["agent-build", "build", "production-modules"]);
  });

  it("compiles only what each image runs: tests and benches are not in the build context", () => {
    const build = stage("build").steps.map((s) => s.args).join("\n");
    assert.match(build, /"include": \["gen", "services"\]/);
    assert.match(stage("agent-build").steps.map((s) => s.args).join("\n"), /"include": \["agent"\]/);
    const ignore = readFileSync(`${ROOT}.dockerignore`, "utf8").split("\n");
    for (const entry of ["test", "bench"]) assert.ok(ignore.includes(entry), `.dockerignore: ${entry}`);
  });

  it("pins a maintained Node LTS on Debian slim (never latest)", () => {
    assert.match(base, /^node:20\.\d+\.\d+-bookworm-slim(@sha256:[0-9a-f]{64})?$/);
    for (const s of stages) if (!["base", "build"].includes(s.from)) assert.equal(s.from, "${NODE_IMAGE}");
  });

  it("runs as a numeric non-root user, with a health check and an entry point taking the service name", () => {
    for (const target of ["mesh", "agent"]) {
      const steps = stage(target).steps;
      const user = steps.filter((s) => s.op === "USER").at(-1);
      assert.ok(user, `${target}: USER`);
      assert.match(user.args, /^[1-9]\d{3,}:[1-9]\d{3,}$/, `${target}: numeric non-root USER`);
      assert.ok(steps.some((s) => s.op === "HEALTHCHECK" && !/NONE/.test(s.args)), `${target}: HEALTHCHECK`);
      assert.ok(steps.some((s) => s.op === "ENTRYPOINT"), `${target}: ENTRYPOINT`);
    }
    const entry = stage("mesh").steps.find((s) => s.op === "ENTRYPOINT")!;
    assert.match(entry.args, /dist\/services\/main\.js/);
  });

  it("installs the shared libraries faiss-node and OpenCV need at run time", () => {
    assert.match(stage("mesh").steps.map((s) => s.args).join(" "), /libopenblas0-pthread.*libgomp1/);
    // The OpenCV packages are read off the compiled binding (ldd + dpkg -S), not listed by hand.
    assert.match(stage("agent-build").steps.map((s) => s.args).join(" "), /ldd "\$binding".*dpkg -S.*> \/src\/opencv-runtime-packages/);
    assert.match(stage("agent").steps.map((s) => s.args).join(" "), /xargs -a \/tmp\/opencv-runtime-packages apt-get install/);
  });

  it("keeps secrets out of the image and declares the writable volumes", () => {
    const all = stages.flatMap((s) => s.steps);
    for (const step of all.filter((s) => s.op === "ENV" || s.op === "ARG")) {
      assert.doesNotMatch(step.args, /(SECRET|PASSWORD|TOKEN|ENCRYPTION_KEY|DATABASE_URL)\s*=/i, `line ${step.line}`);
    }
    assert.ok(all.some((s) => s.op === "VOLUME" && s.args.includes("/tmp") && s.args.includes("/var/lib/rollcall")));
    const ignore = readFileSync(`${ROOT}.dockerignore`, "utf8").split("\n");
    for (const entry of [".git", "**/node_modules", "**/.env", "**/*.key", "data"]) assert.ok(ignore.includes(entry), `.dockerignore: ${entry}`);
  });
});
