import { Counter, Histogram, Registry, collectDefaultMetrics } from "prom-client";

/**
 * Metrics of one process. In the all-in-one mode several services share a process and so a
 * registry; the `grpc_service` label tells them apart. Names follow the grpc-ecosystem
 * (go-grpc-prometheus) conventions so stock dashboards and alerts apply.
 */
export class Metrics {
  readonly registry = new Registry();
  readonly grpcStarted: Counter<"grpc_service" | "grpc_method" | "grpc_type">;
  readonly grpcHandled: Counter<"grpc_service" | "grpc_method" | "grpc_type" | "grpc_code">;
  readonly grpcHandlingSeconds: Histogram<"grpc_service" | "grpc_method" | "grpc_type">;

  constructor(defaultLabels: Record<string, string> = {}) {
    this.registry.setDefaultLabels(defaultLabels);
    collectDefaultMetrics({ register: this.registry });
    // prom-client names these gauges *_total, which Prometheus reserves for counters (promtool
    // check metrics fails); the same figures remain, by type, in nodejs_active_{handles,requests,resources}.
    for (const name of ["nodejs_active_handles_total", "nodejs_active_requests_total", "nodejs_active_resources_total"]) this.registry.removeSingleMetric(name);
    this.grpcStarted = new Counter({
      name: "grpc_server_started_total",
      help: "RPCs started on the server.",
      labelNames: ["grpc_service", "grpc_method", "grpc_type"],
      registers: [this.registry],
    });
    this.grpcHandled = new Counter({
      name: "grpc_server_handled_total",
      help: "RPCs completed on the server, by status code.",
      labelNames: ["grpc_service", "grpc_method", "grpc_type", "grpc_code"],
      registers: [this.registry],
    });
    this.grpcHandlingSeconds = new Histogram({
      name: "grpc_server_handling_seconds",
      help: "Time from receiving an RPC to sending its status, in seconds.",
      labelNames: ["grpc_service", "grpc_method", "grpc_type"],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [this.registry],
    });
  }

  async exposition(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
