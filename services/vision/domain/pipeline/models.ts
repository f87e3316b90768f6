import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import path from "node:path";

/** One model file the pipeline needs, with the only bytes it accepts. */
export interface ModelFile {
  role: "detector" | "embedder";
  file: string;
  sha256: string;
  /** Where `npm run models` fetches it when no mirror directory is given. */
  url: string;
  /** Name stored with every embedding, so vectors of different models are never mixed. */
  name: string;
}

export const MODELS: readonly ModelFile[] = [
  {
    role: "detector",
    file: "face_detection_yunet_s_dynamic.onnx",
    sha256: "daede24002cc8590f457998cc5e6c9e8b82f45f6bd969506a8913cd4ed10a2d3",
    url: "https://raw.githubusercontent.com/ShiqiYu/libfacedetection.train/master/onnx/yunet_s_dynamic.onnx",
    name: "yunet-s-dynamic",
  },
  {
    role: "embedder",
    file: "face_recognition_mobilefacenet_128.onnx",
    sha256: "85cdeb7368ed6a1e9cbaaa6f283c6b2439f1fa533c17450bfdc7f357d285d5d1",
    url: "https://raw.githubusercontent.com/nytdevansh/V-Face/b3631ed3e495795b6c16fdea15a96601e905ad27/model/mobilefacenet.onnx",
    name: "mobilefacenet-128",
  },
];

export const FETCH_HINT = "npm run models -- --from ../shared/models   (or `npm run models` to download them)";

export function sha256(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/** The verified bytes of every model, by role; throws naming each missing or wrong file. */
export async function loadVerifiedModels(modelsDir: string): Promise<Record<ModelFile["role"], { model: ModelFile; bytes: Uint8Array }>> {
  const problems: string[] = [];
  const loaded: Partial<Record<ModelFile["role"], { model: ModelFile; bytes: Uint8Array }>> = {};
  for (const model of MODELS) {
    const file = path.join(modelsDir, model.file);
    let bytes: Uint8Array;
    try {
      bytes = await readFile(file);
    } catch {
      problems.push(`${file} is missing`);
      continue;
    }
    const actual = sha256(bytes);
    if (actual !== model.sha256) problems.push(`${file} has sha256 ${actual}, expected ${model.sha256}`);
    else loaded[model.role] = { model, bytes };
  }
  if (problems.length > 0) {
    throw new Error(`vision models are not usable:\n  - ${problems.join("\n  - ")}\nFetch them with: ${FETCH_HINT} (ROLLCALL_MODELS_DIR=${modelsDir})`);
  }
  return loaded as Record<ModelFile["role"], { model: ModelFile; bytes: Uint8Array }>;
}
