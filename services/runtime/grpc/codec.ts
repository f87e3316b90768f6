import type { ServiceDefinition } from "@grpc/grpc-js";
import { create, fromBinary, toBinary, type DescMessage, type DescMethod, type DescService } from "@bufbuild/protobuf";

/** The gRPC path of a method: `/package.Service/Method`. */
export const methodPath = (method: DescMethod): string => `/${method.parent.typeName}/${method.name}`;

/**
 * Encodes messages of one type. A frozen value is taken to be immutable (nested messages
 * included: freeze them too), so its bytes are made once and reused: handlers that answer with
 * prepared messages (authz Check) freeze them. grpc-js copies the bytes into each call's frame.
 */
export function serializer(schema: DescMessage): (value: object) => Buffer {
  const frozen = new WeakMap<object, Buffer>();
  return (value) => {
    if (!Object.isFrozen(value)) return encode(schema, value);
    let bytes = frozen.get(value);
    if (bytes === undefined) frozen.set(value, (bytes = encode(schema, value)));
    return bytes;
  };
}

function encode(schema: DescMessage, value: object): Buffer {
  // create() returns a message as is and turns a plain init object into one; toBinary needs the latter.
  const bytes = toBinary(schema, create(schema, value as never));
  // A view of the encoded bytes, not a second copy of them.
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

export function deserializer(schema: DescMessage): (bytes: Buffer) => unknown {
  return (bytes) => fromBinary(schema, bytes);
}

/**
 * The grpc-js ServiceDefinition for a protobuf-es service descriptor: the one adapter between
 * the generated types and grpc-js, used by servers and clients alike.
 */
export function serviceDefinition(service: DescService): ServiceDefinition {
  const definition: Record<string, ServiceDefinition[string]> = {};
  for (const method of service.methods) {
    definition[method.name] = {
      path: methodPath(method),
      requestStream: method.methodKind === "client_streaming" || method.methodKind === "bidi_streaming",
      responseStream: method.methodKind === "server_streaming" || method.methodKind === "bidi_streaming",
      requestSerialize: serializer(method.input),
      requestDeserialize: deserializer(method.input),
      responseSerialize: serializer(method.output),
      responseDeserialize: deserializer(method.output),
      originalName: method.localName,
    };
  }
  return definition;
}
