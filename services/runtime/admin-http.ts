import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Logger } from "./logger.js";
import type { Metrics } from "./metrics.js";

/** A dependency readiness depends on (database, cache, bus, a loaded model...). */
export interface ReadinessCheck {
  name: string;
  check(): Promise<void>;
}

type Route = (req: IncomingMessage, res: ServerResponse) => Promise<void> | void;

const CHECK_TIMEOUT_MS = 2_000;

/**
 * The HTTP side of every process: Prometheus `/metrics`, liveness `/healthz`, readiness
 * `/readyz` (503 while a dependency is down or the process is draining), and extra routes a
 * service adds (identity's `/.well-known/jwks.json`).
 */
export class AdminHttpServer {
  private readonly routes = new Map<string, Route>();
  private readonly checks: ReadinessCheck[] = [];
  private readonly server: Server;
  private draining = false;

  constructor(private readonly metrics: Metrics, private readonly logger: Logger) {
    this.routes.set("/metrics", async (_req, res) => {
      const { contentType, body } = await this.metrics.exposition();
      res.writeHead(200, { "content-type": contentType }).end(body);
    });
    this.routes.set("/healthz", (_req, res) => json(res, 200, { status: "ok" }));
    this.routes.set("/readyz", (_req, res) => this.readiness(res));
    this.server = createServer((req, res) => this.dispatch(req, res));
  }

  addReadinessCheck(check: ReadinessCheck): void {
    this.checks.push(check);
  }

  addRoute(path: string, route: Route): void {
    this.routes.set(path, route);
  }

  /** Readiness answers 503 from now on, so load balancers stop sending new work. */
  startDraining(): void {
    this.draining = true;
  }

  async listen(host: string, port: number): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.server.once("error", (err) => reject(new Error(`cannot listen for HTTP on ${host}:${port}: ${err.message}`)));
      this.server.listen(port, host, resolve);
    });
    return (this.server.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async dispatch(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const route = this.routes.get(new URL(req.url ?? "/", "http://local").pathname);
    if (!route) return json(res, 404, { error: `no such path; try ${[...this.routes.keys()].join(", ")}` });
    if (req.method !== "GET" && req.method !== "HEAD") return json(res, 405, { error: "only GET is allowed" });
    try {
      await route(req, res);
    } catch (err) {
      this.logger.error({ err, path: req.url }, "admin HTTP route failed");
      if (!res.headersSent) json(res, 500, { error: "internal error" });
    }
  }

  /** Every readiness check's state ("ok" or why not): what /readyz answers, also sent in heartbeats. */
  async readinessState(): Promise<{ ready: boolean; checks: Record<string, string> }> {
    const results = await Promise.all(this.checks.map(async ({ name, check }) => {
      try {
        await withTimeout(check(), CHECK_TIMEOUT_MS);
        return [name, "ok"] as const;
      } catch (err) {
        return [name, err instanceof Error ? err.message : String(err)] as const;
      }
    }));
    return { ready: !this.draining && results.every(([, state]) => state === "ok"), checks: Object.fromEntries(results) };
  }

  private async readiness(res: ServerResponse): Promise<void> {
    if (this.draining) return json(res, 503, { status: "draining" });
    const { ready, checks } = await this.readinessState();
    json(res, ready ? 200 : 503, { status: ready ? "ok" : "unavailable", checks });
  }
}

function json(res: ServerResponse, code: number, body: unknown): void {
  res.writeHead(code, { "content-type": "application/json" }).end(JSON.stringify(body));
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms); }),
  ]).finally(() => clearTimeout(timer));
}
