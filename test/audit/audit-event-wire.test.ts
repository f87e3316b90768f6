import assert from "node:assert/strict";
import { create, fromBinary, toBinary, type JsonObject, type JsonValue } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { AuditEventSchema } from "../../gen/rollcall/audit/v1/bus_pb.js";
import { fieldsOf, readAuditEvent } from "../../services/audit/ingest/audit-event-wire.js";

/** A small deterministic generator, so a failure can be replayed. */
function generator(seed: number) {
  let state = seed >>> 0 || 1;
  const next = () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 2 ** 32;
  };
  const int = (n: number) => Math.floor(next() * n);
  const pick = <T>(items: readonly T[]): T => items[int(items.length)]!;
  const text = () => Array.from({ length: int(12) }, () => pick(["a", "Z", "0", " ", '"', "\\", "\n", "é", "✓", "𝄞", "\u0000", "\uFEFF", "{", ","])).join("");
  const json = (depth: number): JsonValue => {
    switch (int(depth > 3 ? 4 : 6)) {
      case 0: return null;
      case 1: return pick([0, -1, 1.5, 1e300, -0.25, 2 ** 53, 42]);
      case 2: return text();
      case 3: return next() < 0.5;
      case 4: return Array.from({ length: int(4) }, () => json(depth + 1));
      default: return object(depth + 1);
    }
  };
  const object = (depth: number): JsonObject => Object.fromEntries(Array.from({ length: int(4) }, () => [text(), json(depth)]));
  return { int, pick, text, object, next };
}

/** An AuditEvent's bytes and what fromBinary (the reference) reads from them. */
function reference(bytes: Uint8Array) {
  return fieldsOf(fromBinary(AuditEventSchema, bytes));
}

function varint(value: number): number[] {
  const out: number[] = [];
  while (value > 0x7f) {
    out.push((value & 0x7f) | 0x80);
    value = Math.floor(value / 128);
  }
  out.push(value);
  return out;
}
const delimited = (field: number, bytes: Uint8Array | number[]) => [...varint((field << 3) | 2), ...varint(bytes.length), ...bytes];
const utf8 = (text: string) => [...new TextEncoder().encode(text)];

describe("audit: AuditEvent read from the wire", () => {
  it("reads what fromBinary reads from events encoded by protobuf-es (random, seeded)", () => {
    const random = generator(7);
    for (let i = 0; i < 2_000; i++) {
      const event = create(AuditEventSchema, {
        eventId: random.text(), organizationId: random.text(), actorType: random.int(6), actorId: random.text(), action: random.text(),
        entityType: random.text(), entityId: random.text(), outcome: random.pick([0, 1, 2, 3, 7, 2 ** 31 - 1]), ip: random.text(),
        userAgent: random.text(), service: random.text(),
        ...(random.next() < 0.8 ? { detail: random.object(0) } : {}),
        ...(random.next() < 0.8 ? { occurredAt: timestampFromMs(random.pick([0, 1, 1_764_000_000_123, 253_402_300_799_999, 999])) } : {}),
      });
      const bytes = toBinary(AuditEventSchema, event);
      const fast = readAuditEvent(bytes);
      assert.ok(fast, `event ${i} was left to fromBinary`);
      assert.deepStrictEqual(fast, reference(bytes), `event ${i}`);
    }
  });

  it("agrees with fromBinary on unusual but valid encodings, or leaves them to it", () => {
    const id = utf8("0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0");
    const cases: Record<string, number[]> = {
      "fields out of order, a string field twice (the last wins)": [...delimited(13, utf8("svc")), ...delimited(1, utf8("first")), ...delimited(1, id)],
      "unknown fields of every plain wire type": [...delimited(1, id), 0xa0, 0x06, 0x96, 0x01, 0xa9, 0x06, 1, 2, 3, 4, 5, 6, 7, 8, ...delimited(101, [1, 2, 3]), 0xb5, 0x06, 1, 2, 3, 4],
      "an empty detail and an empty occurred_at": [...delimited(11, []), ...delimited(12, [])],
      "a Value with no kind, a map entry without key or value": [...delimited(11, [...delimited(1, [...delimited(1, utf8("k"))]), ...delimited(1, [...delimited(2, [])])])],
      "a detail sent twice (merged by fromBinary)": [...delimited(11, delimited(1, [...delimited(1, utf8("a")), ...delimited(2, [0x20, 1])])), ...delimited(11, delimited(1, [...delimited(1, utf8("b")), ...delimited(2, [0x20, 0])]))],
      "a negative enum value": [0x18, ...varint(2 ** 32 - 1).slice(0, 4), 0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
      "a group (deprecated encoding) as an unknown field": [...delimited(1, id), 0xa3, 0x06, 0x08, 0x01, 0xa4, 0x06],
      "a __proto__ key in detail": [...delimited(11, delimited(1, [...delimited(1, utf8("__proto__")), ...delimited(2, [0x20, 1])]))],
    };
    for (const [name, bytes] of Object.entries(cases)) {
      const data = Uint8Array.from(bytes);
      const expected = reference(data);
      const fast = readAuditEvent(data);
      if (fast !== undefined) assert.deepStrictEqual(fast, expected, name);
    }
    // The common unusual cases are still read here, not left to fromBinary.
    assert.ok(readAuditEvent(Uint8Array.from(cases["fields out of order, a string field twice (the last wins)"]!)));
    assert.ok(readAuditEvent(Uint8Array.from(cases["unknown fields of every plain wire type"]!)));
  });

  it("leaves to fromBinary what it refuses: truncation, invalid UTF-8, wrong wire types", () => {
    const valid = toBinary(AuditEventSchema, create(AuditEventSchema, { eventId: "e", detail: { a: [1, { b: "c" }] }, occurredAt: timestampFromMs(1) }));
    const broken = [
      valid.subarray(0, valid.length - 1),
      Uint8Array.from(delimited(1, [0xc3, 0x28])),
      Uint8Array.from([0x08, 0x01]), // event_id as a varint
      Uint8Array.from([0x0a, 0x05, 0x61]), // a length beyond the end
    ];
    for (const bytes of broken) {
      assert.equal(readAuditEvent(bytes), undefined);
      assert.throws(() => fromBinary(AuditEventSchema, bytes));
    }
  });
});
