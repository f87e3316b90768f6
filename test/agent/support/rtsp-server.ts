/**
 * An RTSP server on loopback (rtsp-streaming-server): a publisher pushes a stream to one port
 * with ANNOUNCE/RECORD, readers DESCRIBE/SETUP/PLAY it from the other, as from an IP camera. Run as
 * its own process, because OpenCV opens a stream synchronously and would block a server living in
 * the test's event loop.
 * Usage: node --import tsx rtsp-server.ts [user:password]; with credentials, readers must give them
 * (Basic, as cameras ask). Prints {"publishPort":…,"readPort":…} on stdout; exits when stdin closes.
 */
import { createSocket } from "node:dgram";
import { RtspServer } from "rtsp-streaming-server";

/** Each stream and each reader takes a pair of UDP ports (RTP, RTCP) from this many. */
const RTP_PORTS = 32;

const [credentials] = process.argv.slice(2);
const [user, password] = credentials ? [credentials.slice(0, credentials.indexOf(":")), credentials.slice(credentials.indexOf(":") + 1)] : [];

const server = new RtspServer({
  // The library binds these itself (all interfaces); the two RTSP ports are bound below, on loopback.
  serverPort: 0,
  clientPort: 0,
  rtpPortStart: await freeUdpRange(RTP_PORTS),
  rtpPortCount: RTP_PORTS,
  clientServerHooks: user === undefined ? {} : { authentication: async (name, pass) => name === user && pass === password },
});
const publishPort = await listenOnLoopback(server.PublishServer.server);
const readPort = await listenOnLoopback(server.ClientServer.server);
process.stdout.write(`${JSON.stringify({ publishPort, readPort })}\n`);
process.on("SIGTERM", () => process.exit(0));
// A test killed before its after() hook would leave this running; its publisher stops with it.
process.stdin.on("close", () => process.exit(0)).resume();

/** The library's RTSP servers are net.Servers; listened on here instead of start(), which binds every interface. */
function listenOnLoopback(rtsp: import("node:net").Server): Promise<number> {
  return new Promise((resolve, reject) => {
    rtsp.once("error", reject);
    rtsp.listen(0, "127.0.0.1", () => resolve((rtsp.address() as { port: number }).port));
  });
}

/** An even port from which `count` UDP ports are free (checked by binding them, as the library will). */
async function freeUdpRange(count: number): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const start = 20_000 + 2 * Math.floor(Math.random() * 20_000);
    const sockets = Array.from({ length: count }, () => createSocket("udp4"));
    const bound = await Promise.all(sockets.map((socket, i) => new Promise<boolean>((resolve) => {
      socket.once("error", () => resolve(false));
      socket.bind(start + i, () => resolve(true));
    })));
    await Promise.all(sockets.map((socket) => new Promise<void>((resolve) => {
      try {
        socket.close(() => resolve());
      } catch {
        resolve(); // never bound
      }
    })));
    if (bound.every(Boolean)) return start;
  }
  throw new Error(`no ${count} consecutive free UDP ports found for RTP`);
}
