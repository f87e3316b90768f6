import type { ServiceDefinition } from "@grpc/grpc-js";
import { create, fromBinary, toBinary, type DescMessage, type DescMethod, type DescService } from "@bufbuild/protobuf";

/** The gRPC path of a method: `/package.Service/Method`. */
export const methodPath = (method: DescMethod): string => `/${method.parent.typeName}/${method.name}`;

export function serializer(schema: DescMessage): (value: object) => Buffer {
  // create() returns a message as is and turns a plain init object into one; toBinary needs the latter.
  return (value) => {
    const bytes = toBinary(schema, create(schema, value as never));
    // A view of the encoded bytes, not a second copy of them.
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  };
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
