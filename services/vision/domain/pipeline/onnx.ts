import * as ort from "onnxruntime-node";

/** Sessions are created once per model and reused for every call; thread count is the config's. */
export function createSession(bytes: Uint8Array, threads: number): Promise<ort.InferenceSession> {
  return ort.InferenceSession.create(bytes, {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: "sequential",
    graphOptimizationLevel: "all",
  });
}

export { ort };
