/**
 * Size and EXIF orientation read from an image's header bytes, without decoding it: the limit
 * check and the choice of decode size need them before libvips opens the image, and asking
 * libvips (sharp's metadata()) costs a second open per image. What is read here is what libvips
 * reads: JPEG frame header + APP1 Exif, PNG IHDR + eXIf before the first IDAT, WebP VP8/VP8L/VP8X
 * + EXIF chunk. For JPEG it also reads what decides whether libjpeg-turbo alone decodes the image
 * as libvips would (coding process, colour space, ICC profile).
 */

export type ImageFormat = "jpeg" | "png" | "webp";

export interface ImageHeader {
  /** As stored, before orientation. */
  width: number;
  height: number;
  /** EXIF orientation 1..8 (1 when absent or unreadable, as libvips treats it). */
  orientation: number;
  /** JPEG only. */
  jpeg?: JpegFrame;
}

/** The colour space libjpeg takes a JPEG's components to be in (default_decompress_parms in jdapimin.c). */
export type JpegColour = "grey" | "ycbcr" | "rgb" | "cmyk" | "ycck" | "unknown";

export interface JpegFrame {
  /** Start-of-frame marker: 0xc0 baseline, 0xc1 extended sequential, 0xc2 progressive; the rest are lossless, arithmetic-coded or hierarchical. */
  sof: number;
  /** Bits per sample. */
  precision: number;
  colour: JpegColour;
  /** Has an APP2 ICC_PROFILE segment: libvips then converts the pixels from that profile to sRGB. */
  iccProfile: boolean;
}

/** By content, never by file name (a PNG named .jpg is still a PNG). */
export function sniffFormat(bytes: Uint8Array): ImageFormat | undefined {
  const b = bytes;
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return "jpeg";
  if (b.length >= 8 && b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47 && b[4] === 0x0d && b[5] === 0x0a) return "png";
  if (b.length >= 12 && ascii(b, 0, 4) === "RIFF" && ascii(b, 8, 12) === "WEBP") return "webp";
  return undefined;
}

/** Throws an Error whose message says what is wrong with the header. */
export function readImageHeader(bytes: Uint8Array, format: ImageFormat): ImageHeader {
  const header = format === "jpeg" ? jpegHeader(bytes) : format === "png" ? pngHeader(bytes) : webpHeader(bytes);
  if (header.width <= 0 || header.height <= 0) throw new Error(`header gives a size of ${header.width}x${header.height}`);
  return header;
}

/** Width and height once the orientation is applied (5..8 turn the image a quarter). */
export function uprightSize(header: ImageHeader): { width: number; height: number } {
  return header.orientation >= 5 ? { width: header.height, height: header.width } : { width: header.width, height: header.height };
}

const SOF_MARKERS = new Set([0xc0, 0xc1, 0xc2, 0xc3, 0xc5, 0xc6, 0xc7, 0xc9, 0xca, 0xcb, 0xcd, 0xce, 0xcf]);

/**
 * Markers up to the start of scan: the frame header gives the size and components, the last Exif
 * APP1 the orientation, APP0 JFIF and APP14 Adobe the colour space, APP2 whether there is an ICC profile.
 */
function jpegHeader(b: Uint8Array): ImageHeader {
  let frame: { width: number; height: number; sof: number; precision: number; componentIds: number[] } | undefined;
  let orientation = 1;
  let jfif = false;
  let adobeTransform: number | undefined;
  let iccProfile = false;
  let p = 2;
  for (;;) {
    while (p < b.length && b[p] !== 0xff) p++;
    while (p < b.length && b[p] === 0xff) p++;
    if (p >= b.length) throw new Error("ends before the image data");
    const marker = b[p++]!;
    if (marker === 0xd8 || marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) continue;
    if (marker === 0xd9) throw new Error("ends before the image data");
    if (p + 2 > b.length) throw new Error("ends inside a marker segment");
    const length = u16be(b, p);
    const end = p + length;
    if (length < 2 || end > b.length) throw new Error("ends inside a marker segment");
    if (marker === 0xda) {
      if (!frame) throw new Error("has no frame header before the image data");
      const { width, height, sof, precision, componentIds } = frame;
      return { width, height, orientation, jpeg: { sof, precision, colour: jpegColour(componentIds, jfif, adobeTransform), iccProfile } };
    }
    if (SOF_MARKERS.has(marker)) {
      if (length < 7) throw new Error("has a short frame header");
      // A frame header too short for its components is left for libvips to reject; no components make it "unknown".
      const count = length >= 8 ? b[p + 7]! : 0;
      const componentIds = length >= 8 + 3 * count ? Array.from({ length: count }, (_, i) => b[p + 8 + 3 * i]!) : [];
      frame = { height: u16be(b, p + 3), width: u16be(b, p + 5), sof: marker, precision: b[p + 2]!, componentIds };
    } else if (marker === 0xe1 && length >= 8 && ascii(b, p + 2, p + 6) === "Exif") {
      orientation = exifOrientation(b, p + 2, end);
    } else if (marker === 0xe0 && length >= 16 && ascii(b, p + 2, p + 7) === "JFIF\0") {
      jfif = true;
    } else if (marker === 0xee && length >= 14 && ascii(b, p + 2, p + 7) === "Adobe") {
      adobeTransform = b[p + 13]!;
    } else if (marker === 0xe2 && length >= 16 && ascii(b, p + 2, p + 14) === "ICC_PROFILE\0") {
      iccProfile = true;
    }
    p = end;
  }
}

/** As libjpeg decides it; the cases where libjpeg warns and guesses are "unknown". */
function jpegColour(ids: number[], jfif: boolean, adobeTransform: number | undefined): JpegColour {
  if (ids.length === 1) return "grey";
  if (ids.length === 3) {
    if (jfif) return "ycbcr";
    if (adobeTransform !== undefined) return adobeTransform === 0 ? "rgb" : adobeTransform === 1 ? "ycbcr" : "unknown";
    if (ids[0] === 82 && ids[1] === 71 && ids[2] === 66) return "rgb"; // 'R' 'G' 'B'
    return "ycbcr";
  }
  if (ids.length === 4) return adobeTransform === undefined || adobeTransform === 0 ? "cmyk" : adobeTransform === 2 ? "ycck" : "unknown";
  return "unknown";
}

const PNG_SIGNATURE_LENGTH = 8;

function pngHeader(b: Uint8Array): ImageHeader {
  let p = PNG_SIGNATURE_LENGTH;
  if (p + 8 + 13 > b.length || ascii(b, p + 4, p + 8) !== "IHDR") throw new Error("has no IHDR chunk");
  const header: ImageHeader = { width: u32be(b, p + 8), height: u32be(b, p + 12), orientation: 1 };
  while (p + 8 <= b.length) {
    const length = u32be(b, p);
    const type = ascii(b, p + 4, p + 8);
    if (type === "IDAT" || type === "IEND") break;
    const data = p + 8;
    if (data + length > b.length) break;
    if (type === "eXIf") header.orientation = exifOrientation(b, data, data + length);
    p = data + length + 4;
  }
  return header;
}

const RIFF_HEADER_LENGTH = 12;

function webpHeader(b: Uint8Array): ImageHeader {
  let size: { width: number; height: number } | undefined;
  let orientation = 1;
  for (let p = RIFF_HEADER_LENGTH; p + 8 <= b.length; ) {
    const type = ascii(b, p, p + 4);
    const length = u32le(b, p + 4);
    const data = p + 8;
    if (data + length > b.length) {
      if (size) break;
      throw new Error(`ends inside its ${type.trim()} chunk`);
    }
    if (type === "VP8X" && length >= 10) {
      size = { width: u24le(b, data + 4) + 1, height: u24le(b, data + 7) + 1 };
    } else if (type === "VP8 " && !size && length >= 10) {
      if (b[data + 3] !== 0x9d || b[data + 4] !== 0x01 || b[data + 5] !== 0x2a) throw new Error("has a VP8 frame without its start code");
      size = { width: u16le(b, data + 6) & 0x3fff, height: u16le(b, data + 8) & 0x3fff };
    } else if (type === "VP8L" && !size && length >= 5) {
      if (b[data] !== 0x2f) throw new Error("has a VP8L frame without its signature");
      const bits = u32le(b, data + 1);
      size = { width: (bits & 0x3fff) + 1, height: ((bits >>> 14) & 0x3fff) + 1 };
    } else if (type === "EXIF") {
      orientation = exifOrientation(b, data, data + length);
    }
    p = data + length + (length & 1);
  }
  if (!size) throw new Error("has no VP8, VP8L or VP8X chunk");
  return { ...size, orientation };
}

/** Tag 0x0112 of IFD0 in TIFF-structured EXIF data, with or without the "Exif\0\0" prefix. */
function exifOrientation(b: Uint8Array, start: number, end: number): number {
  const tiff = end - start >= 6 && ascii(b, start, start + 4) === "Exif" && b[start + 4] === 0 && b[start + 5] === 0 ? start + 6 : start;
  if (tiff + 8 > end) return 1;
  const little = b[tiff] === 0x49 && b[tiff + 1] === 0x49;
  if (!little && !(b[tiff] === 0x4d && b[tiff + 1] === 0x4d)) return 1;
  const u16 = (at: number) => (little ? u16le(b, at) : u16be(b, at));
  const u32 = (at: number) => (little ? u32le(b, at) : u32be(b, at));
  const ifd = tiff + u32(tiff + 4);
  if (ifd + 2 > end) return 1;
  const count = u16(ifd);
  for (let i = 0; i < count; i++) {
    const entry = ifd + 2 + 12 * i;
    if (entry + 12 > end) return 1;
    if (u16(entry) !== 0x0112) continue;
    const type = u16(entry + 2);
    const value = type === 3 ? u16(entry + 8) : type === 4 ? u32(entry + 8) : 1;
    return value >= 1 && value <= 8 ? value : 1;
  }
  return 1;
}

function ascii(b: Uint8Array, from: number, to: number): string {
  return String.fromCharCode(...b.subarray(from, to));
}

function u16be(b: Uint8Array, p: number): number {
  return (b[p]! << 8) | b[p + 1]!;
}

function u16le(b: Uint8Array, p: number): number {
  return b[p]! | (b[p + 1]! << 8);
}

function u24le(b: Uint8Array, p: number): number {
  return b[p]! | (b[p + 1]! << 8) | (b[p + 2]! << 16);
}

function u32be(b: Uint8Array, p: number): number {
  return ((b[p]! << 24) | (b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!) >>> 0;
}

function u32le(b: Uint8Array, p: number): number {
  return (b[p]! | (b[p + 1]! << 8) | (b[p + 2]! << 16) | (b[p + 3]! << 24)) >>> 0;
}
