import type { JsonObject, JsonValue } from "@bufbuild/protobuf";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import type { AuditEvent } from "../../../gen/rollcall/audit/v1/bus_pb.js";

/** The fields of an AuditEvent the ingest reads, with occurred_at as Unix milliseconds. */
export interface AuditEventFields {
  eventId: string;
  organizationId: string;
  actorType: number;
  actorId: string;
  action: string;
  entityType: string;
  entityId: string;
  outcome: number;
  ip: string;
  userAgent: string;
  detail: JsonObject | undefined;
  occurredAtMs: number | undefined;
  service: string;
}

export function fieldsOf(event: AuditEvent): AuditEventFields {
  const { eventId, organizationId, actorType, actorId, action, entityType, entityId, outcome, ip, userAgent, detail, service } = event;
  const occurredAtMs = event.occurredAt ? timestampMs(event.occurredAt) : undefined;
  return { eventId, organizationId, actorType, actorId, action, entityType, entityId, outcome, ip, userAgent, detail, occurredAtMs, service };
}

/**
 * An AuditEvent read straight from the wire, for the ingest hot path: the values
 * fromBinary(AuditEventSchema) gives, at a fraction of its CPU and garbage (it builds Struct and
 * Value messages, then converts them to JSON). Only the plain encoding every protobuf encoder
 * writes is read here; for anything else (a field with an unexpected wire type, a message field
 * sent twice, groups, invalid UTF-8, deep nesting, truncation) the answer is undefined and the
 * caller uses fromBinary, which decides, so both always agree.
 */
export function readAuditEvent(bytes: Uint8Array): AuditEventFields | undefined {
  try {
    return new WireReader(bytes).auditEvent();
  } catch {
    return undefined;
  }
}

const WireType = { varint: 0, fixed64: 1, delimited: 2, fixed32: 5 } as const;
/** Deeper details go to fromBinary (whose own limit is 100 nested messages). */
const MAX_DEPTH = 32;
/** 7 bytes of varint: 49 bits, exact as a number. Longer ones (negative numbers) go to fromBinary. */
const MAX_VARINT_BYTES = 7;
const INT32_MAX = 0x7fffffff;
const strictUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const ASCII_FAST_MAX = 64;

/** Thrown for whatever this reader leaves to fromBinary. */
class NotPlain extends Error {}

class WireReader {
  private pos = 0;
  private readonly view: DataView;

  constructor(private readonly buf: Uint8Array) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  auditEvent(): AuditEventFields {
    const event: AuditEventFields = {
      eventId: "", organizationId: "", actorType: 0, actorId: "", action: "", entityType: "", entityId: "", outcome: 0,
      ip: "", userAgent: "", detail: undefined, occurredAtMs: undefined, service: "",
    };
    const end = this.buf.length;
    while (this.pos < end) {
      const tag = this.tag();
      const field = tag >>> 3;
      const wireType = tag & 7;
      if (field === 3 || field === 8) {
        expect(wireType, WireType.varint);
        const value = this.varint();
        if (value > INT32_MAX) throw new NotPlain();
        if (field === 3) event.actorType = value;
        else event.outcome = value;
      } else if (field === 11) {
        expect(wireType, WireType.delimited);
        if (event.detail !== undefined) throw new NotPlain(); // a second occurrence merges: fromBinary's job
        event.detail = this.struct(this.delimitedEnd(), 1);
      } else if (field === 12) {
        expect(wireType, WireType.delimited);
        if (event.occurredAtMs !== undefined) throw new NotPlain();
        event.occurredAtMs = this.timestampMs(this.delimitedEnd());
      } else if (field >= 1 && field <= 13) {
        expect(wireType, WireType.delimited);
        const value = this.string();
        if (field === 1) event.eventId = value;
        else if (field === 2) event.organizationId = value;
        else if (field === 4) event.actorId = value;
        else if (field === 5) event.action = value;
        else if (field === 6) event.entityType = value;
        else if (field === 7) event.entityId = value;
        else if (field === 9) event.ip = value;
        else if (field === 10) event.userAgent = value;
        else event.service = value;
      } else {
        this.skip(wireType);
      }
    }
    return event;
  }

  /** google.protobuf.Timestamp: seconds (1), nanos (2); milliseconds as timestampMs computes them. */
  private timestampMs(end: number): number {
    let seconds = 0;
    let nanos = 0;
    while (this.pos < end) {
      const tag = this.tag();
      const field = tag >>> 3;
      if (field === 1 || field === 2) {
        expect(tag & 7, WireType.varint);
        const value = this.varint();
        if (field === 1) seconds = value;
        else if (value > INT32_MAX) throw new NotPlain();
        else nanos = value;
      } else {
        this.skip(tag & 7);
      }
    }
    this.atEnd(end);
    return seconds * 1000 + Math.round(nanos / 1000000);
  }

  /** google.protobuf.Struct: map<string, Value> fields = 1. */
  private struct(end: number, depth: number): JsonObject {
    const object: JsonObject = {};
    this.eachField1(end, depth, (entryEnd) => {
      let key: string | undefined;
      let value: JsonValue | undefined;
      while (this.pos < entryEnd) {
        const entryTag = this.tag();
        const field = entryTag >>> 3;
        if (field === 1 || field === 2) {
          expect(entryTag & 7, WireType.delimited);
          if (field === 1 ? key !== undefined : value !== undefined) throw new NotPlain();
          if (field === 1) key = this.string();
          else value = this.value(this.delimitedEnd(), depth + 1);
        } else {
          this.skip(entryTag & 7);
        }
      }
      this.atEnd(entryEnd);
      key ??= "";
      if (key === "__proto__") throw new NotPlain();
      object[key] = value ?? null;
    });
    return object;
  }

  /** google.protobuf.Value: one of null (1), number (2), string (3), bool (4), struct (5), list (6); none is null. */
  private value(end: number, depth: number): JsonValue {
    if (depth > MAX_DEPTH) throw new NotPlain();
    let value: JsonValue | undefined;
    while (this.pos < end) {
      const tag = this.tag();
      const field = tag >>> 3;
      const wireType = tag & 7;
      if (field < 1 || field > 6) {
        this.skip(wireType);
        continue;
      }
      if (value !== undefined) throw new NotPlain(); // the oneof set twice
      if (field === 1) {
        expect(wireType, WireType.varint);
        this.varint();
        value = null;
      } else if (field === 2) {
        expect(wireType, WireType.fixed64);
        this.bounds(8);
        value = this.view.getFloat64(this.pos, true);
        this.pos += 8;
      } else if (field === 4) {
        expect(wireType, WireType.varint);
        value = this.varint() !== 0;
      } else {
        expect(wireType, WireType.delimited);
        if (field === 3) value = this.string();
        else if (field === 5) value = this.struct(this.delimitedEnd(), depth + 1);
        else value = this.list(this.delimitedEnd(), depth + 1);
      }
    }
    this.atEnd(end);
    return value ?? null;
  }

  /** google.protobuf.ListValue: repeated Value values = 1. */
  private list(end: number, depth: number): JsonValue[] {
    const values: JsonValue[] = [];
    this.eachField1(end, depth, (valueEnd) => values.push(this.value(valueEnd, depth + 1)));
    return values;
  }

  /** Each occurrence of field 1 (length-delimited) up to `end`, other fields skipped: Struct's entries, ListValue's values. */
  private eachField1(end: number, depth: number, read: (itemEnd: number) => void): void {
    if (depth > MAX_DEPTH) throw new NotPlain();
    while (this.pos < end) {
      const tag = this.tag();
      if (tag >>> 3 !== 1) {
        this.skip(tag & 7);
        continue;
      }
      expect(tag & 7, WireType.delimited);
      read(this.delimitedEnd());
    }
    this.atEnd(end);
  }

  /** Short ASCII strings (ids, names) without a TextDecoder call; the rest strictly as UTF-8, as fromBinary does. */
  private string(): string {
    const end = this.delimitedEnd();
    const start = this.pos;
    this.pos = end;
    if (end - start <= ASCII_FAST_MAX) {
      const codes = new Array<number>(end - start);
      let i = start;
      for (; i < end; i++) {
        const byte = this.buf[i]!;
        if (byte > 0x7f) break;
        codes[i - start] = byte;
      }
      if (i === end) return String.fromCharCode.apply(String, codes);
    }
    return strictUtf8.decode(this.buf.subarray(start, end));
  }

  /** Reads a length prefix; returns where the delimited bytes end. */
  private delimitedEnd(): number {
    const length = this.varint();
    this.bounds(length);
    return this.pos + length;
  }

  /** A field tag: number << 3 | wire type; field number 0 is invalid. */
  private tag(): number {
    const tag = this.varint();
    if (tag > 0xffffffff || tag >>> 3 === 0) throw new NotPlain();
    return tag;
  }

  private varint(): number {
    const buf = this.buf;
    if (this.pos >= buf.length) throw new NotPlain();
    let byte = buf[this.pos++]!;
    if (byte < 0x80) return byte;
    let value = byte & 0x7f;
    let scale = 0x80;
    for (let i = 1; i < MAX_VARINT_BYTES; i++, scale *= 0x80) {
      if (this.pos >= buf.length) throw new NotPlain();
      byte = buf[this.pos++]!;
      value += (byte & 0x7f) * scale;
      if (byte < 0x80) return value;
    }
    throw new NotPlain();
  }

  /** Unknown fields: skipped, as fromBinary skips them (groups are left to it). */
  private skip(wireType: number): void {
    if (wireType === WireType.varint) this.varint();
    else if (wireType === WireType.fixed64) this.advance(8);
    else if (wireType === WireType.delimited) this.pos = this.delimitedEnd();
    else if (wireType === WireType.fixed32) this.advance(4);
    else throw new NotPlain();
  }

  private advance(bytes: number): void {
    this.bounds(bytes);
    this.pos += bytes;
  }

  private bounds(bytes: number): void {
    if (this.pos + bytes > this.buf.length) throw new NotPlain();
  }

  private atEnd(end: number): void {
    if (this.pos !== end) throw new NotPlain();
  }
}

function expect(wireType: number, expected: number): void {
  if (wireType !== expected) throw new NotPlain();
}
