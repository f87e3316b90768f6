import { connect, type ClientHttp2Session, type IncomingHttpHeaders } from "node:http2";
import { create, fromBinary, toBinary, type DescMessage, type MessageInitShape, type MessageShape } from "@bufbuild/protobuf";

/**
 * A minimal unary gRPC client straight on node:http2 (one connection, length-prefixed protobuf,
 * grpc-status from the trailers), for a load generator that must cost the shared cores as little
 * as it can. Not for services: no deadlines, retries, compression or metadata.
 */
export class Http2Unary {
  private readonly session: ClientHttp2Session;

  constructor(target: string) {
    this.session = connect(`http://${target}`);
  }

  call<I extends DescMessage, O extends DescMessage>(path: string, input: I, request: MessageInitShape<I>, output: O): Promise<MessageShape<O>> {
    const body = toBinary(input, create(input, request));
    const frame = Buffer.allocUnsafe(5 + body.length);
    frame[0] = 0;
    frame.writeUInt32BE(body.length, 1);
    frame.set(body, 5);
    return new Promise((resolve, reject) => {
      const stream = this.session.request({ ":method": "POST", ":path": path, "content-type": "application/grpc", te: "trailers" });
      const chunks: Buffer[] = [];
      let ending: IncomingHttpHeaders = {};
      // An error may come as headers only; an answer's status comes in the trailers.
      stream.on("response", (headers) => (ending = headers));
      stream.on("trailers", (trailers) => (ending = trailers));
      stream.on("data", (chunk: Buffer) => chunks.push(chunk));
      stream.on("error", reject);
      stream.on("close", () => {
        const status = ending["grpc-status"];
        if (status !== "0") return reject(new Error(`grpc-status ${status ?? "missing"}: ${decodeURIComponent(String(ending["grpc-message"] ?? ""))}`));
        resolve(fromBinary(output, Buffer.concat(chunks).subarray(5)));
      });
      stream.end(frame);
    });
  }

  close(): void {
    this.session.close();
  }
}
