import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:net";

/**
 * The kernel's ephemeral range: the ports it gives to listen(0) and, as local ports, to outgoing
 * connections (to Postgres, Redis, NATS...). A port taken from it and released can be reused as
 * the local end of any connection before the test listens on it again (EADDRINUSE), so test
 * ports are chosen outside it.
 */
function ephemeralRange(): [number, number] {
  try {
    const [low, high] = readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/).map(Number);
    if (Number.isInteger(low) && Number.isInteger(high)) return [low!, high!];
  } catch {
    // Not Linux: the IANA dynamic range.
  }
  return [49152, 65535];
}

/** Ports tests may use: below the ephemeral range, above the usual services' ports. */
function candidateRange(): [number, number] | undefined {
  const [low, high] = ephemeralRange();
  if (low - 1 - 20_000 >= 1000) return [20_000, low - 1];
  if (65_535 - (high + 1) >= 1000) return [high + 1, 65_535];
  return undefined;
}

const listenOn = (server: Server, port: number) =>
  new Promise<boolean>((resolve) => {
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => resolve(true));
  });

/** Distinct free ports on 127.0.0.1: all held open until all are chosen, so none is handed out twice. */
export async function freePorts(count: number): Promise<number[]> {
  const range = candidateRange();
  const held: Server[] = [];
  const ports: number[] = [];
  for (let attempt = 0; ports.length < count; attempt++) {
    if (attempt > 1000) throw new Error(`no ${count} free ports found in ${range?.join("–")}`);
    const port = range ? range[0] + Math.floor(Math.random() * (range[1] - range[0] + 1)) : 0;
    const server = createServer();
    if (await listenOn(server, port)) {
      held.push(server);
      ports.push((server.address() as { port: number }).port);
    }
  }
  await Promise.all(held.map((server) => new Promise((resolve) => server.close(resolve))));
  return ports;
}

export async function freePort(): Promise<number> {
  return (await freePorts(1))[0]!;
}

/** Ports nothing listens on (bound, then released): for tests of what an outage looks like. */
export const closedPort = freePort;
export const closedPorts = freePorts;
