/**
 * One-dimensional Postgres arrays in the binary wire format (what array_recv reads), sent as a
 * Buffer bind parameter (pg sends Buffers in binary). For the bulk insert this is cheaper at both
 * ends than array literals: no quoting or escaping here, no literal parsing and no text input of
 * uuids and timestamps in Postgres.
 *
 * Layout: ndim, flags, element type oid, then per dimension its length and lower bound, then per
 * element its byte length (-1 for NULL) and bytes; every integer big-endian.
 */

/** Element types used by the audit insert, by their pg_type oid. */
export const ElementType = { text: 25, int8: 20, uuid: 2950, timestamptz: 1184, jsonb: 3802 } as const;

/** Postgres timestamps count microseconds from 2000-01-01 UTC. */
const POSTGRES_EPOCH_MS = Date.UTC(2000, 0, 1);
const TWO_TO_32 = 2 ** 32;
const HEADER_BYTES = 20;
const NOT_HEX = 255;
const HEX_VALUE = new Uint8Array(128).fill(NOT_HEX);
for (let i = 0; i < 16; i++) {
  HEX_VALUE["0123456789abcdef".charCodeAt(i)] = i;
  HEX_VALUE["0123456789ABCDEF".charCodeAt(i)] = i;
}

export class BinaryArrayWriter {
  private buffer: Buffer;
  private position = HEADER_BYTES;
  private written = 0;

  /** `bytesPerElement` is a first guess of the size; the buffer grows as needed. */
  constructor(private readonly elementType: number, private readonly length: number, bytesPerElement = 16) {
    this.buffer = Buffer.allocUnsafe(HEADER_BYTES + length * (4 + bytesPerElement));
  }

  null(): void {
    this.reserve(4);
    this.buffer.writeInt32BE(-1, this.position);
    this.position += 4;
    this.written++;
  }

  /** text: the UTF-8 bytes, as they are. */
  text(value: string | null): void {
    if (value === null) return this.null();
    this.reserve(4 + value.length * 3);
    const bytes = this.buffer.write(value, this.position + 4, "utf8");
    this.buffer.writeInt32BE(bytes, this.position);
    this.position += 4 + bytes;
    this.written++;
  }

  /** jsonb: a version byte (1), then the JSON text. */
  jsonb(json: string): void {
    this.reserve(5 + json.length * 3);
    const bytes = this.buffer.write(json, this.position + 5, "utf8");
    this.buffer.writeInt32BE(bytes + 1, this.position);
    this.buffer[this.position + 4] = 1;
    this.position += 5 + bytes;
    this.written++;
  }

  /** uuid: 16 bytes from the canonical text form (8-4-4-4-12 hex digits). */
  uuid(value: string | null): void {
    if (value === null) return this.null();
    if (value.length !== 36) throw notUuid(value);
    this.reserve(20);
    const buffer = this.buffer;
    buffer.writeInt32BE(16, this.position);
    let at = this.position + 4;
    for (let i = 0; i < 36; ) {
      if (i === 8 || i === 13 || i === 18 || i === 23) {
        if (value.charCodeAt(i) !== 45) throw notUuid(value);
        i++;
        continue;
      }
      const high = HEX_VALUE[value.charCodeAt(i)] ?? NOT_HEX;
      const low = HEX_VALUE[value.charCodeAt(i + 1)] ?? NOT_HEX;
      if (high === NOT_HEX || low === NOT_HEX) throw notUuid(value);
      buffer[at++] = (high << 4) | low;
      i += 2;
    }
    this.position = at;
    this.written++;
  }

  int8(value: bigint): void {
    this.reserve(12);
    this.buffer.writeInt32BE(8, this.position);
    this.buffer.writeBigInt64BE(value, this.position + 4);
    this.position += 12;
    this.written++;
  }

  /** timestamptz: microseconds since 2000-01-01 UTC (exact for millisecond Dates). */
  timestamptz(at: Date): void {
    const ms = at.getTime();
    if (!Number.isFinite(ms)) throw new TypeError("invalid Date");
    const micros = (ms - POSTGRES_EPOCH_MS) * 1000;
    const high = Math.floor(micros / TWO_TO_32);
    this.reserve(12);
    this.buffer.writeInt32BE(8, this.position);
    this.buffer.writeInt32BE(high, this.position + 4);
    this.buffer.writeUInt32BE(micros - high * TWO_TO_32, this.position + 8);
    this.position += 12;
    this.written++;
  }

  /** The array; exactly `length` elements must have been written. */
  finish(): Buffer {
    if (this.written !== this.length) throw new Error(`binary array: ${this.written} elements written, ${this.length} announced`);
    const buffer = this.buffer;
    buffer.writeInt32BE(1, 0); // dimensions
    buffer.writeInt32BE(0, 4); // flags (array_recv finds NULLs by their length)
    buffer.writeInt32BE(this.elementType, 8);
    buffer.writeInt32BE(this.length, 12);
    buffer.writeInt32BE(1, 16); // lower bound
    return buffer.subarray(0, this.position);
  }

  private reserve(bytes: number): void {
    if (this.position + bytes <= this.buffer.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.buffer.length * 2, this.position + bytes));
    this.buffer.copy(grown, 0, 0, this.position);
    this.buffer = grown;
  }
}

function notUuid(value: string): TypeError {
  return new TypeError(`not a UUID: ${JSON.stringify(value.slice(0, 64))}`);
}
