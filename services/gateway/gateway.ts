import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { createContextValues } from "@connectrpc/connect";
import { Client } from "@grpc/grpc-js";
import type { DescService } from "@bufbuild/protobuf";
import type { Logger } from "../runtime/logger.js";
import { CLIENT_ADDRESS, forwardingImpl } from "./forward.js";
import { PLAINTEXT, type MeshTransport } from "../runtime/grpc/mesh-transport.js";
import { meshChannelOptions } from "../runtime/grpc/service-config.js";
import { owningService } from "../runtime/mesh-clients.js";

export interface GatewayOptions {
  /** Each public service and the gRPC target that serves it. */
  routes: { service: DescService; target: string }[];
  maxMessageBytes: number;
  logger: Logger;
  /** mTLS into the mesh (the gateway's certificate); default plaintext. */
  transport?: MeshTransport;
}

/**
 * The public edge: the mesh's services over the Connect protocol (JSON over HTTP/1.1, curl-able)
 * and gRPC-Web (browsers). Bidirectional streams need HTTP/2 end to end, so camera agents talk
 * native gRPC (or NATS) to vision instead.
 */
export class Gateway {
  private readonly channels = new Map<string, Client>();
  private readonly server: Server;

  constructor(private readonly options: GatewayOptions) {
    const handler = connectNodeAdapter({
      routes: (router) => {
        for (const { service, target } of options.routes) router.service(service, forwardingImpl(service, this.channel(target, owningService(service))) as never);
      },
      // The client's address as this server saw it, for the services' lockout and audit.
      contextValues: (req) => createContextValues().set(CLIENT_ADDRESS, req.socket.remoteAddress ?? ""),
      readMaxBytes: options.maxMessageBytes,
      writeMaxBytes: options.maxMessageBytes,
      connect: true,
      grpcWeb: true,
      grpc: false,
      fallback: (_req, res) => {
        res.writeHead(404, { "content-type": "application/json" });
        res.end(JSON.stringify({ code: "not_found", message: "no such RPC; paths look like /rollcall.identity.v1.AuthService/Login" }));
      },
    });
    this.server = createServer(handler);
  }

  async listen(host: string, port: number): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.server.once("error", (err) => reject(new Error(`cannot listen for the gateway on ${host}:${port}: ${err.message}`)));
      this.server.listen(port, host, resolve);
    });
    return (this.server.address() as AddressInfo).port;
  }

  /** Stops accepting connections, lets requests in flight finish for up to `graceMs`. */
  async close(graceMs = 5_000): Promise<void> {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => this.server.closeAllConnections(), graceMs);
      this.server.close(() => {
        clearTimeout(timer);
        resolve();
      });
      this.server.closeIdleConnections();
    });
    for (const channel of this.channels.values()) channel.close();
  }

  private channel(target: string, owner: string): Client {
    let channel = this.channels.get(target);
    if (!channel) {
      // Round-robin over the service's replicas, with the mesh's retries and timeouts.
      channel = new Client(target, (this.options.transport ?? PLAINTEXT).channelCredentials(owner), meshChannelOptions(this.options.maxMessageBytes));
      this.channels.set(target, channel);
    }
    return channel;
  }
}
