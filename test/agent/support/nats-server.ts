import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { connect as tcpConnect } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { freePort } from "../../support/ports.js";

/**
 * A nats-server of the test's own (JetStream, temp store, free port), so a test can stop and
 * restart it without disturbing anyone else's NATS.
 */
export class OwnNatsServer {
  private process: ChildProcess | undefined;

  private constructor(readonly port: number, readonly storeDir: string) {}

  static async start(): Promise<OwnNatsServer> {
    const server = new OwnNatsServer(await freePort(), await mkdtemp(path.join(tmpdir(), "agent-nats-")));
    await server.resume();
    return server;
  }

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  /** Starts (again) on the same port and store. */
  async resume(): Promise<void> {
    const child = spawn("nats-server", ["-a", "127.0.0.1", "-p", String(this.port), "-js", "-sd", this.storeDir], { stdio: "ignore" });
    child.once("error", (err) => {
      throw new Error(`nats-server could not start (apt-get install -y nats-server): ${err.message}`);
    });
    this.process = child;
    await waitFor(() => portOpen(this.port), `nats-server on port ${this.port}`, 15_000);
  }

  /**
   * Takes it down and waits until the port is closed: the outage clients see is the same as a
   * crash (their connections drop). SIGTERM rather than SIGKILL: nats-server 2.9 (Debian's, which
   * CI runs) killed soon after a write can come back with a stream's newest messages or a
   * consumer's acks lost (reproduced: a stream back at sequence 0 under a consumer at 50, whose
   * new messages were then never delivered: nats-server#7693, reconciled at start only from 2.14).
   * That is the server's durability, not what these tests are about.
   */
  async down(): Promise<void> {
    const child = this.process;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill("SIGTERM");
    await exited;
    this.process = undefined;
    await waitFor(async () => !(await portOpen(this.port)), "nats-server to stop", 10_000);
  }

  async stop(): Promise<void> {
    await this.down();
    await rm(this.storeDir, { recursive: true, force: true });
  }
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = tcpConnect(port, "127.0.0.1");
    socket.once("connect", () => (socket.destroy(), resolve(true)));
    socket.once("error", () => resolve(false));
  });
}

/** Polls until `check` holds (never a fixed sleep), failing with what was awaited. */
export async function waitFor(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
