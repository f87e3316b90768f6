import sharp from "sharp";

/** An image decoded to 8-bit RGB, EXIF orientation applied: what every later stage reads. */
export interface RgbImage {
  width: number;
  height: number;
  /** width * height * 3 bytes, row-major, R G B. */
  data: Uint8Array;
}

export interface ImageLimits {
  maxBytes: number;
  maxMegapixels: number;
}

export type ImageProblem = "TOO_LARGE" | "UNDECODABLE";

/** Why an image cannot be used; the message names the limit or the format problem. */
export class ImageError extends Error {
  constructor(readonly problem: ImageProblem, message: string) {
    super(message);
    this.name = "ImageError";
  }
}

export type ImageFormat = "jpeg" | "png" | "webp";

/** By content, never by file name (a PNG named .jpg is still a PNG). */
export function sniffFormat(bytes: Uint8Array): ImageFormat | undefined {
  const b = bytes;
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return "jpeg";
  if (b.length >= 8 && b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47 && b[4] === 0x0d && b[5] === 0x0a) return "png";
  if (b.length >= 12 && ascii(b, 0, 4) === "RIFF" && ascii(b, 8, 12) === "WEBP") return "webp";
  return undefined;
}

export async function decodeImage(bytes: Uint8Array, limits: ImageLimits): Promise<RgbImage & { format: ImageFormat }> {
  if (bytes.length === 0) throw new ImageError("UNDECODABLE", "is empty");
  if (bytes.length > limits.maxBytes) {
    throw new ImageError("TOO_LARGE", `${mib(bytes.length)} exceeds the limit of ${mib(limits.maxBytes)}`);
  }
  const format = sniffFormat(bytes);
  if (!format) throw new ImageError("UNDECODABLE", "is not a JPEG, PNG or WebP image");
  const maxPixels = Math.floor(limits.maxMegapixels * 1e6);
  try {
    // One pass: sharp refuses images over the pixel limit from their header, before decoding.
    const { data, info } = await sharp(bytes, { limitInputPixels: maxPixels, failOn: "error" })
      .rotate()
      .removeAlpha()
      .toColourspace("srgb")
      .raw()
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new Error(`decoded to ${info.channels} channels`);
    return { width: info.width, height: info.height, data, format };
  } catch (err) {
    const pixels = await pixelCount(bytes);
    if (pixels > maxPixels) {
      throw new ImageError("TOO_LARGE", `${(pixels / 1e6).toFixed(1)} megapixels exceeds the limit of ${limits.maxMegapixels}`);
    }
    throw new ImageError("UNDECODABLE", `could not be decoded as ${format.toUpperCase()} (${(err as Error).message})`);
  }
}

/** Width × height from the image header; 0 when even the header is unreadable. */
async function pixelCount(bytes: Uint8Array): Promise<number> {
  try {
    const meta = await sharp(bytes, { limitInputPixels: false }).metadata();
    return (meta.width ?? 0) * (meta.height ?? 0);
  } catch {
    return 0;
  }
}

/** Encodes a region of an image as JPEG (unknown-face crops); the region is clamped to the image. */
export async function encodeJpeg(
  image: RgbImage,
  region: { x: number; y: number; width: number; height: number },
): Promise<{ data: Buffer; width: number; height: number }> {
  const left = clamp(Math.floor(region.x), 0, image.width - 1);
  const top = clamp(Math.floor(region.y), 0, image.height - 1);
  const width = clamp(Math.ceil(region.width), 1, image.width - left);
  const height = clamp(Math.ceil(region.height), 1, image.height - top);
  const data = await sharp(image.data, { raw: { width: image.width, height: image.height, channels: 3 } })
    .extract({ left, top, width, height })
    .jpeg({ quality: 90 })
    .toBuffer();
  return { data, width, height };
}

function clamp(v: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, v));
}

function ascii(b: Uint8Array, from: number, to: number): string {
  return String.fromCharCode(...b.subarray(from, to));
}

function mib(bytes: number): string {
  return bytes >= 1024 * 1024 ? `${(bytes / 1024 / 1024).toFixed(1)} MiB` : `${Math.ceil(bytes / 1024)} KiB`;
}
