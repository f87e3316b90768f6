import { Client } from "@grpc/grpc-js";
import type { DescService } from "@bufbuild/protobuf";
import { SERVICE_NAMES, type ServiceName } from "./config.js";
import { createClient, type ClientOptions, type RpcClient } from "./grpc/client.js";
import { PLAINTEXT, type MeshTransport } from "./grpc/mesh-transport.js";
import { meshChannelOptions } from "./grpc/service-config.js";

/**
 * Clients for calling other Rollcall services, one channel per target shared by all the
 * service descriptors served there. The owning service is read from the package name
 * (`rollcall.<service>.v1`), so the caller only names the descriptor.
 */
export class MeshClients {
  private readonly channels = new Map<string, Client>();
  private readonly clients = new Map<string, unknown>();

  constructor(
    private readonly addresses: Record<ServiceName, string>,
    private readonly options: ClientOptions = {},
    /** mTLS: each channel presents this process's certificate and checks the server's. */
    private readonly transport: MeshTransport = PLAINTEXT,
  ) {}

  get<S extends DescService>(service: S): RpcClient<S> {
    let client = this.clients.get(service.typeName) as RpcClient<S> | undefined;
    if (!client) {
      const owner = owningService(service);
      const target = this.addresses[owner];
      client = createClient(service, target, this.options, this.channel(target, owner));
      this.clients.set(service.typeName, client);
    }
    return client;
  }

  close(): void {
    for (const channel of this.channels.values()) channel.close();
    this.channels.clear();
    this.clients.clear();
  }

  /** One channel per target: round-robin over its addresses, retries and timeouts (service-config.ts). */
  private channel(target: string, owner: ServiceName): Client {
    let channel = this.channels.get(target);
    if (!channel) {
      channel = new Client(target, this.options.credentials ?? this.transport.channelCredentials(owner), {
        ...meshChannelOptions(),
        ...this.options.channelOptions,
      });
      this.channels.set(target, channel);
    }
    return channel;
  }
}

export function owningService(service: Pick<DescService, "typeName">): ServiceName {
  const name = service.typeName.split(".")[1];
  if (!SERVICE_NAMES.includes(name as ServiceName)) {
    throw new Error(`${service.typeName} is not in a rollcall.<service>.v1 package`);
  }
  return name as ServiceName;
}
