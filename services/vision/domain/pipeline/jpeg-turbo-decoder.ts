import turbo from "@julusian/jpeg-turbo";
import type { ImageHeader } from "./image-header.js";
import type { RgbImage } from "./decode.js";

/** Huffman-coded 8-bit sequential or progressive frames; lossless, arithmetic-coded, hierarchical and 12-bit ones stay on libvips. */
const TURBO_FRAMES = new Set([0xc0, 0xc1, 0xc2]);

/**
 * Whether libjpeg-turbo alone gives the pixels libvips would for this image: a complete JPEG
 * in YCbCr or grey, stored upright, with no ICC profile to convert from, that fits the detector
 * as it is (libvips would neither rotate, convert nor resize it). Camera frames are such JPEGs;
 * for them libvips' per-image pipeline and threads cost about three times the decode itself.
 */
export function decodableByTurbo(bytes: Uint8Array, header: ImageHeader, reduceTo: number): boolean {
  const frame = header.jpeg;
  return (
    frame !== undefined &&
    header.orientation === 1 &&
    Math.max(header.width, header.height) <= reduceTo &&
    TURBO_FRAMES.has(frame.sof) &&
    frame.precision === 8 &&
    (frame.colour === "ycbcr" || frame.colour === "grey") &&
    !frame.iccProfile &&
    endsWithEoi(bytes)
  );
}

/**
 * Decodes to RGB on the libuv thread pool; undefined when libjpeg-turbo reports any error or
 * warning (corrupt or truncated data), so that libvips decides what is accepted and with which
 * message, as it does for every other image. Its IDCT is the fast integer one (TJFLAG_FASTDCT,
 * fixed in the binding): pixels differ from libvips' by about 1 level on average.
 */
export async function decodeWithTurbo(bytes: Uint8Array): Promise<RgbImage | undefined> {
  const source = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  try {
    const { data, width, height } = await turbo.decompress(source, { format: turbo.FORMAT_RGB });
    return { width, height, data };
  } catch {
    return undefined;
  }
}

/** Ends with the EOI marker, after any zero padding (some encoders pad to a block size). */
function endsWithEoi(b: Uint8Array): boolean {
  let end = b.length;
  while (end > 0 && b[end - 1] === 0) end--;
  return end >= 2 && b[end - 2] === 0xff && b[end - 1] === 0xd9;
}
