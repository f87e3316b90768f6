import sharp from "sharp";
import { readImageHeader, sniffFormat, uprightSize, type ImageFormat, type ImageHeader } from "./image-header.js";
import { decodableByTurbo, decodeWithTurbo } from "./jpeg-turbo-decoder.js";

export { sniffFormat, type ImageFormat };

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

/**
 * A decoded image: its size as stored (EXIF orientation applied), pixels reduced to fit the
 * detector's input, made in the same libvips pass as the decode (JPEG shrink-on-load applies
 * from a 3x reduction, WebP's from any; full-size pixels are never copied out for detection),
 * and the full-size pixels on demand (small faces are aligned from them; crops kept for
 * review are cut from them). A plain JPEG that already fits (a camera frame) is decoded by
 * libjpeg-turbo alone, without libvips (see jpeg-turbo-decoder.ts).
 */
export class DecodedImage {
  private fullPixels?: Promise<RgbImage>;

  constructor(
    readonly width: number,
    readonly height: number,
    /** The image scaled by (scaleX, scaleY) ≤ 1; the full image itself when it already fits. */
    readonly reduced: RgbImage,
    private readonly decodeFull: () => Promise<RgbImage>,
    readonly format?: ImageFormat,
  ) {}

  /** Pixels already in memory, e.g. a face crop: nothing is reduced or decoded again. */
  static fromPixels(image: DecodedImage | RgbImage): DecodedImage {
    return image instanceof DecodedImage ? image : new DecodedImage(image.width, image.height, image, async () => image);
  }

  get scaleX(): number {
    return this.reduced.width / this.width;
  }

  get scaleY(): number {
    return this.reduced.height / this.height;
  }

  get isReduced(): boolean {
    return this.reduced.width !== this.width || this.reduced.height !== this.height;
  }

  /** Full-size pixels, decoded once on first use. */
  full(): Promise<RgbImage> {
    if (!this.isReduced) return Promise.resolve(this.reduced);
    this.fullPixels ??= this.decodeFull();
    return this.fullPixels;
  }
}

/**
 * Checks and decodes an image; `reduceTo` is the longest side of the reduced pixels (the
 * detector's input), the full-size pixels are decoded only when asked for.
 */
export async function decodeImage(bytes: Uint8Array, limits: ImageLimits, reduceTo: number): Promise<DecodedImage & { format: ImageFormat }> {
  if (bytes.length === 0) throw new ImageError("UNDECODABLE", "is empty");
  if (bytes.length > limits.maxBytes) {
    throw new ImageError("TOO_LARGE", `${mib(bytes.length)} exceeds the limit of ${mib(limits.maxBytes)}`);
  }
  const format = sniffFormat(bytes);
  if (!format) throw new ImageError("UNDECODABLE", "is not a JPEG, PNG or WebP image");
  const maxPixels = Math.floor(limits.maxMegapixels * 1e6);
  const undecodable = (err: unknown) => new ImageError("UNDECODABLE", `could not be decoded as ${format.toUpperCase()} (${(err as Error).message})`);
  let header: ImageHeader;
  let size: { width: number; height: number };
  try {
    header = readImageHeader(bytes, format);
    size = uprightSize(header);
  } catch (err) {
    throw undecodable(err);
  }
  const pixels = size.width * size.height;
  if (pixels > maxPixels) {
    throw new ImageError("TOO_LARGE", `${(pixels / 1e6).toFixed(1)} megapixels exceeds the limit of ${limits.maxMegapixels}`);
  }
  if (decodableByTurbo(bytes, header, reduceTo)) {
    const frame = await decodeWithTurbo(bytes);
    if (frame) return new DecodedImage(frame.width, frame.height, frame, () => Promise.resolve(frame), format) as DecodedImage & { format: ImageFormat };
  }
  const decode = async (maxSide?: number): Promise<RgbImage> => {
    try {
      let pipeline = sharp(bytes, { limitInputPixels: maxPixels, failOn: "error" }).rotate();
      if (maxSide) pipeline = pipeline.resize(maxSide, maxSide, { fit: "inside", withoutEnlargement: true, kernel: "linear" });
      const { data, info } = await pipeline.removeAlpha().toColourspace("srgb").raw().toBuffer({ resolveWithObject: true });
      if (info.channels !== 3) throw new Error(`decoded to ${info.channels} channels`);
      return { width: info.width, height: info.height, data };
    } catch (err) {
      throw undecodable(err);
    }
  };
  const fits = Math.max(size.width, size.height) <= reduceTo;
  const reduced = await decode(fits ? undefined : reduceTo);
  if (fits) size = { width: reduced.width, height: reduced.height };
  return new DecodedImage(size.width, size.height, reduced, () => decode(), format) as DecodedImage & { format: ImageFormat };
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

function mib(bytes: number): string {
  return bytes >= 1024 * 1024 ? `${(bytes / 1024 / 1024).toFixed(1)} MiB` : `${Math.ceil(bytes / 1024)} KiB`;
}
