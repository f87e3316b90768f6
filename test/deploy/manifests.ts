import { execFileSync } from "node:child_process";
import { writeFileSync, rmSync } from "node:fs";
import { fileURLToPath } from "node:url";
import ts from "typescript";
import { parseAllDocuments } from "yaml";

export const ROOT = fileURLToPath(new URL("../../", import.meta.url));

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec?: Record<string, unknown> & { template?: { spec?: Record<string, unknown> } };
  data?: Record<string, string>;
}

export function hasKubectl(): boolean {
  try {
    execFileSync("kubectl", ["version", "--client"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

/** `kubectl kustomize k8s/overlays/<env>`, parsed. */
export function render(overlay: string): K8sObject[] {
  return renderDir(`k8s/overlays/${overlay}`);
}

/** `kubectl kustomize <dir>` (relative to the repository), parsed. */
export function renderDir(dir: string): K8sObject[] {
  const text = execFileSync("kubectl", ["kustomize", `${ROOT}${dir}`], { encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
  return parseYaml(text);
}

export function parseYaml(text: string): K8sObject[] {
  return parseAllDocuments(text).map((doc) => {
    if (doc.errors.length > 0) throw new Error(doc.errors.map((e) => e.message).join("; "));
    return doc.toJS() as K8sObject;
  }).filter(Boolean);
}

/** The kubernetes-models module of an object's kind, or undefined for kinds it has no model of. */
export function modelModule(obj: Pick<K8sObject, "apiVersion" | "kind">): string | undefined {
  if (obj.apiVersion.startsWith("monitoring.coreos.com/")) return `@kubernetes-models/prometheus-operator/${obj.apiVersion}/${obj.kind}`;
  if (obj.apiVersion.startsWith("cert-manager.io/")) return undefined;
  return `kubernetes-models/${obj.apiVersion.includes("/") ? obj.apiVersion : `v1`}/${obj.kind}`;
}

/**
 * Unknown fields, which the models' validators accept: the objects are type-checked as object
 * literals against the models' TypeScript interfaces, whose excess-property check reaches every
 * nesting level. Returns the compiler's messages (empty: no unknown or mistyped field).
 */
export function unknownFields(objects: K8sObject[]): string[] {
  const file = `${ROOT}test/deploy/.rendered-${process.pid}.ts`;
  const imports: string[] = [];
  const lines: string[] = [];
  objects.forEach((obj, i) => {
    const module = modelModule(obj);
    if (!module) return;
    imports.push(`import type { I${obj.kind} as T${i} } from "${module}";`);
    lines.push(`// ${obj.kind}/${obj.metadata.name}\nexport const o${i}: T${i} = ${JSON.stringify(obj)};`);
  });
  writeFileSync(file, `${imports.join("\n")}\n${lines.join("\n")}\n`);
  try {
    const program = ts.createProgram([file], {
      strict: true, noEmit: true, skipLibCheck: true, module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, target: ts.ScriptTarget.ES2022, types: [],
    });
    return ts.getPreEmitDiagnostics(program).map((d) => {
      const where = d.file && d.start !== undefined ? d.file.getLineAndCharacterOfPosition(d.start) : undefined;
      const context = where && d.file ? d.file.text.split("\n").slice(0, where.line + 1).reverse().find((l) => l.startsWith("// ")) : "";
      return `${context ?? ""} ${ts.flattenDiagnosticMessageText(d.messageText, "\n")}`;
    });
  } finally {
    rmSync(file, { force: true });
  }
}
