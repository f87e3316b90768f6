import type { JsonValue } from "../chain/canonical.js";

const UNSTORABLE = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;
/** Any NUL or surrogate at all: rare, and far cheaper to look for than UNSTORABLE with its lookarounds. */
const SUSPECT = /[\u0000\uD800-\uDFFF]/;

/**
 * Text exactly as Postgres will store and return it: NUL and lone surrogates (which text and
 * jsonb refuse, or the driver replaces) become U+FFFD, so a record is kept rather than refused
 * and its hash matches what is read back. Cut to `max` characters.
 */
export function storableText(value: string, max: number): string {
  const cleaned = SUSPECT.test(value) ? value.replace(UNSTORABLE, "\uFFFD") : value;
  return cleaned.length > max ? cleaned.slice(0, max) : cleaned;
}

/** A JSON object with every string storable; one larger than maxBytes is replaced by a marker. */
export function storableObject(value: { [key: string]: unknown } | undefined, maxBytes: number): { [key: string]: JsonValue } {
  if (!value) return {};
  const cleaned = clean(value) as { [key: string]: JsonValue };
  const bytes = Buffer.byteLength(JSON.stringify(cleaned));
  return bytes > maxBytes ? { truncated: true, originalBytes: bytes } : cleaned;
}

function clean(value: unknown): JsonValue {
  if (typeof value === "string") return storableText(value, Number.MAX_SAFE_INTEGER);
  if (typeof value === "number") return Number.isFinite(value) ? value : null;
  if (typeof value === "boolean" || value === null || value === undefined) return value ?? null;
  if (Array.isArray(value)) return value.map(clean);
  const out: { [key: string]: JsonValue } = {};
  for (const [key, item] of Object.entries(value as object)) out[storableText(key, 256)] = clean(item);
  return out;
}
