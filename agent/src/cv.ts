import { createRequire } from "node:module";

/**
 * The OpenCV binding (@u4/opencv4nodejs, compiled against Debian's libopencv-dev), loaded once.
 * Missing, it fails loudly with the commands that install it: tests and the agent must not run
 * without it, and must not quietly skip.
 */
type OpenCv = typeof import("@u4/opencv4nodejs").cv;

export const INSTALL_HINT =
  "the OpenCV binding is missing: apt-get install -y libopencv-dev && " +
  "OPENCV4NODEJS_DISABLE_AUTOBUILD=1 npm ci --prefix agent   (compiles for ~5 minutes)";

function load(): OpenCv {
  // The binding was built against the system's OpenCV at install; never try to build at load.
  process.env.OPENCV4NODEJS_DISABLE_AUTOBUILD ??= "1";
  // Its allocator reports Mat memory to V8 from worker threads (readAsync, imreadAsync), which
  // aborts the process in the middle of a garbage collection ("Check failed: marking_done_").
  process.env.OPENCV4NODEJS_DISABLE_EXTERNAL_MEM_TRACKING ??= "1";
  const require = createRequire(import.meta.url);
  try {
    // Its build helper prints info lines on every load; the agent logs for itself.
    (require("@u4/opencv-build") as { Log: { silence: boolean } }).Log.silence = true;
    return (require("@u4/opencv4nodejs") as typeof import("@u4/opencv4nodejs")).cv;
  } catch (err) {
    throw new Error(`${INSTALL_HINT}\n  cause: ${(err as Error).message}`);
  }
}

export const cv: OpenCv = load();
export type Mat = InstanceType<OpenCv["Mat"]>;

/**
 * Frees Mats' pixels now. V8 is not told how much memory a Mat holds (see above), so garbage
 * collection alone would let a busy pipeline's frames pile up: every per-frame Mat is released.
 */
export function release(...mats: (Mat | undefined)[]): void {
  for (const mat of mats) mat?.release();
}
