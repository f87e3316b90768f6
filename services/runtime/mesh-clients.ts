import { Client, credentials } from "@grpc/grpc-js";
import type { DescService } from "@bufbuild/protobuf";
import { SERVICE_NAMES, type ServiceName } from "./config.js";
import { createClient, type ClientOptions, type RpcClient } from "./grpc/client.js";

/**
 * Clients for calling other Rollcall services, one channel per target shared by all the
 * service descriptors served there. The owning service is read from the package name
 * (`rollcall.<service>.v1`), so the caller only names the descriptor.
 */
export class MeshClients {
  private readonly channels = new Map<string, Client>();
  private readonly clients = new Map<string, unknown>();

  constructor(private readonly addresses: Record<ServiceName, string>, private readonly options: ClientOptions = {}) {}

  get<S extends DescService>(service: S): RpcClient<S> {
    let client = this.clients.get(service.typeName) as RpcClient<S> | undefined;
    if (!client) {
      const target = this.addresses[owningService(service)];
      client = createClient(service, target, this.options, this.channel(target));
      this.clients.set(service.typeName, client);
    }
    return client;
  }

  close(): void {
    for (const channel of this.channels.values()) channel.close();
    this.channels.clear();
    this.clients.clear();
  }

  private channel(target: string): Client {
    let channel = this.channels.get(target);
    if (!channel) {
      channel = new Client(target, this.options.credentials ?? credentials.createInsecure(), {
        "grpc.max_receive_message_length": 64 * 1024 * 1024,
        "grpc.keepalive_time_ms": 30_000,
        "grpc.keepalive_timeout_ms": 10_000,
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
