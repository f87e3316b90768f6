/**
 * The transport floor for the authz gRPC benchmark: a bare @grpc/grpc-js server answering
 * AuthzService/Check with an empty handler (no decoding of the request, one pre-encoded
 * response, no auth, metrics or context). What it costs per call is what grpc-js and HTTP/2 cost
 * on this machine, before Rollcall does anything; reports its CPU time per phase like the replicas.
 */
import { Server, ServerCredentials, type ServiceDefinition, type UntypedServiceImplementation } from "@grpc/grpc-js";
import { create, toBinary } from "@bufbuild/protobuf";
import { AuthzService, CheckResponseSchema } from "../../gen/rollcall/authz/v1/authz_pb.js";
import { methodPath } from "../../services/runtime/grpc/codec.js";
import { report, serveCpuPhases } from "../lib/child.js";
import { profilePhases } from "../lib/profile.js";

const answer = Buffer.from(toBinary(CheckResponseSchema, create(CheckResponseSchema, { allowed: true, reason: "floor" })));
const identity = (b: Buffer) => b;
const check = AuthzService.method.check;
const definition: ServiceDefinition = {
  Check: {
    path: methodPath(check), requestStream: false, responseStream: false,
    requestSerialize: identity, requestDeserialize: identity, responseSerialize: identity, responseDeserialize: identity,
  },
};
const handlers: UntypedServiceImplementation = {
  Check: (_call: unknown, callback: (err: null, value: Buffer) => void) => callback(null, answer),
};
const server = new Server();
server.addService(definition, handlers);
const grpcPort = await new Promise<number>((resolve, reject) =>
  server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (err, port) => (err ? reject(err) : resolve(port))));

serveCpuPhases();
profilePhases(`floor-${process.pid}`);
process.on("SIGTERM", () => server.tryShutdown(() => process.exit(0)));
report.ready({ grpcPort });
