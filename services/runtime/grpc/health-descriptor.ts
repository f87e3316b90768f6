import { create } from "@bufbuild/protobuf";
import {
  FieldDescriptorProto_Label as Label,
  FieldDescriptorProto_Type as Type,
  FileDescriptorProtoSchema,
  type FileDescriptorProto,
} from "@bufbuild/protobuf/wkt";

/**
 * grpc.health.v1 as a FileDescriptorProto, for reflection. The descriptor proto-loader derives
 * from grpc-health-check's .proto names its map entry "Statuses" with a relative type name,
 * which strict clients (buf curl) reject, so it is written out here to the letter of
 * https://github.com/grpc/grpc/blob/master/src/proto/grpc/health/v1/health.proto.
 */
export const healthFileDescriptor: FileDescriptorProto = create(FileDescriptorProtoSchema, {
  name: "grpc/health/v1/health.proto",
  package: "grpc.health.v1",
  syntax: "proto3",
  messageType: [
    { name: "HealthCheckRequest", field: [{ name: "service", jsonName: "service", number: 1, label: Label.OPTIONAL, type: Type.STRING }] },
    {
      name: "HealthCheckResponse",
      field: [{ name: "status", jsonName: "status", number: 1, label: Label.OPTIONAL, type: Type.ENUM, typeName: ".grpc.health.v1.HealthCheckResponse.ServingStatus" }],
      enumType: [{
        name: "ServingStatus",
        value: [
          { name: "UNKNOWN", number: 0 },
          { name: "SERVING", number: 1 },
          { name: "NOT_SERVING", number: 2 },
          { name: "SERVICE_UNKNOWN", number: 3 },
        ],
      }],
    },
    { name: "HealthListRequest" },
    {
      name: "HealthListResponse",
      field: [{ name: "statuses", jsonName: "statuses", number: 1, label: Label.REPEATED, type: Type.MESSAGE, typeName: ".grpc.health.v1.HealthListResponse.StatusesEntry" }],
      nestedType: [{
        name: "StatusesEntry",
        options: { mapEntry: true },
        field: [
          { name: "key", jsonName: "key", number: 1, label: Label.OPTIONAL, type: Type.STRING },
          { name: "value", jsonName: "value", number: 2, label: Label.OPTIONAL, type: Type.MESSAGE, typeName: ".grpc.health.v1.HealthCheckResponse" },
        ],
      }],
    },
  ],
  service: [{
    name: "Health",
    method: [
      { name: "Check", inputType: ".grpc.health.v1.HealthCheckRequest", outputType: ".grpc.health.v1.HealthCheckResponse" },
      { name: "List", inputType: ".grpc.health.v1.HealthListRequest", outputType: ".grpc.health.v1.HealthListResponse" },
      { name: "Watch", inputType: ".grpc.health.v1.HealthCheckRequest", outputType: ".grpc.health.v1.HealthCheckResponse", serverStreaming: true },
    ],
  }],
});
