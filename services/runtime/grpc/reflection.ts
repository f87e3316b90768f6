import type { Server } from "@grpc/grpc-js";
import { loadFileDescriptorSetFromBuffer } from "@grpc/proto-loader";
import { ReflectionService } from "@grpc/reflection";
import { create, toBinary, type DescFile } from "@bufbuild/protobuf";
import { FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { healthFileDescriptor } from "./health-descriptor.js";

/**
 * Server reflection (v1 and v1alpha) from the protobuf-es descriptors themselves (no .proto files at run time):
 * the files and everything they import become one FileDescriptorSet for @grpc/reflection.
 */
export function addReflection(server: Server, files: Iterable<DescFile>): void {
  const all = new Map<string, DescFile>();
  const visit = (file: DescFile) => {
    if (all.has(file.proto.name)) return;
    all.set(file.proto.name, file);
    file.dependencies.forEach(visit);
  };
  for (const file of files) visit(file);
  // grpc.health.v1 is served too, so reflection clients (buf curl, grpcurl) can call it.
  const set = create(FileDescriptorSetSchema, { file: [...[...all.values()].map((f) => f.proto), healthFileDescriptor] });
  const packageDefinition = loadFileDescriptorSetFromBuffer(Buffer.from(toBinary(FileDescriptorSetSchema, set)));
  new ReflectionService(packageDefinition).addToServer(server);
}
