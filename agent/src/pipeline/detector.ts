import { readFile } from "node:fs/promises";
import path from "node:path";
import { decodeYunet, type Detection } from "../../../services/vision/domain/pipeline/detector.js";
import { MODELS, sha256, FETCH_HINT } from "../../../services/vision/domain/pipeline/models.js";
import { createSession, ort } from "../../../services/vision/domain/pipeline/onnx.js";
import type { DetectorBackend } from "../config.js";
import { cv, release, type Mat } from "../cv.js";

export type { Detection };

/** The network's outputs, by name: cls/obj/bbox/kps for strides 8, 16, 32. */
const OUTPUT_NAMES = [8, 16, 32].flatMap((s) => ["cls", "obj", "bbox", "kps"].map((n) => `${n}_${s}`));

/** YuNet on a BGR frame, through OpenCV's dnn module or onnxruntime; the same decoder as vision's. */
export interface FaceDetector {
  readonly backend: DetectorBackend;
  detect(frame: Mat, minScore: number): Promise<Detection[]>;
}

/**
 * YuNet-s as two ONNX exports of the same network: dynamic input for onnxruntime (the file vision
 * verifies and uses), and the 640x640 export OpenCV's dnn importer accepts (4.6 refuses the
 * dynamic one's shape ops) and reshapes to the frame's size. Both are checked by sha256.
 */
const DNN_MODEL = { file: "face_detection_yunet_2023mar.onnx", sha256: "8f2383e4dd3cfbb4553ea8718107fc0423210dc964f9f4280604804ed2552fa4" };

export async function loadDetectorModel(backend: DetectorBackend, modelsDir: string): Promise<{ file: string; bytes: Uint8Array }> {
  const model = backend === "dnn" ? DNN_MODEL : MODELS.find((m) => m.role === "detector")!;
  const file = path.join(modelsDir, model.file);
  const hint = backend === "dnn" ? "copy it from ../shared/models (OpenCV Zoo face_detection_yunet_2023mar.onnx)" : `fetch it with: ${FETCH_HINT}`;
  let bytes: Uint8Array;
  try {
    bytes = await readFile(file);
  } catch {
    throw new Error(`${file} is missing; ${hint}`);
  }
  if (sha256(bytes) !== model.sha256) throw new Error(`${file} is not the expected model (sha256 mismatch); ${hint}`);
  return { file, bytes };
}

export async function createDetector(backend: DetectorBackend, modelsDir: string, threads: number): Promise<FaceDetector> {
  const model = await loadDetectorModel(backend, modelsDir);
  if (backend === "dnn") {
    cv.setNumThreads(threads);
    const net = cv.readNetFromONNX(model.file);
    return {
      backend,
      async detect(frame, minScore) {
        const padded = pad32(frame);
        const blob = cv.blobFromImage(padded, 1, new cv.Size(padded.cols, padded.rows), new cv.Vec3(0, 0, 0), false, false);
        net.setInput(blob);
        const outputs = net.forward(OUTPUT_NAMES);
        // Outputs are [1, cells, channels]: flattened to 2-D to read their floats.
        const flat = outputs.map((o) => o.flattenFloat(o.sizes[1]!, o.sizes[2]!));
        const byName = new Map(OUTPUT_NAMES.map((name, i) => [name, floats(flat[i]!)]));
        const faces = decodeYunet((name) => byName.get(name)!, padded.cols, padded.rows, minScore);
        release(blob, ...outputs, ...flat, padded === frame ? undefined : padded);
        return faces;
      },
    };
  }
  const session = await createSession(model.bytes, threads);
  return {
    backend,
    async detect(frame, minScore) {
      const padded = pad32(frame);
      // Read before release: a released Mat reports 0 x 0, and nothing would be decoded.
      const { cols, rows } = padded;
      const tensor = new ort.Tensor("float32", planarBgr(padded), [1, 3, rows, cols]);
      if (padded !== frame) release(padded);
      const outputs = await session.run({ input: tensor });
      return decodeYunet((name) => outputs[name]!.data as Float32Array, cols, rows, minScore);
    },
  };
}

/** Padded right and bottom with black to multiples of 32, as the network's strides need. */
function pad32(frame: Mat): Mat {
  const width = Math.ceil(frame.cols / 32) * 32;
  const height = Math.ceil(frame.rows / 32) * 32;
  if (width === frame.cols && height === frame.rows) return frame;
  return frame.copyMakeBorder(0, height - frame.rows, 0, width - frame.cols, cv.BORDER_CONSTANT, new cv.Vec3(0, 0, 0));
}

/** NCHW float planes B, G, R with values 0..255, as YuNet was trained; split natively. */
function planarBgr(frame: Mat): Float32Array {
  const plane = frame.rows * frame.cols;
  const out = new Float32Array(3 * plane);
  const converted = frame.convertTo(cv.CV_32FC3);
  const channels = converted.splitChannels();
  channels.forEach((channel, i) => out.set(floats(channel), i * plane));
  release(converted, ...channels);
  return out;
}

function floats(mat: Mat): Float32Array {
  const data = mat.getData();
  // A view when the bytes are aligned for floats; a copy otherwise.
  if (data.byteOffset % 4 === 0) return new Float32Array(data.buffer, data.byteOffset, data.byteLength / 4);
  return new Float32Array(new Uint8Array(data).buffer);
}
