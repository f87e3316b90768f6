/**
 * An HTTP MJPEG camera (multipart/x-mixed-replace), as IP cameras serve: plays the JPEGs of a
 * directory in name order at the given fps, forever. Run as its own process, because OpenCV opens
 * a stream synchronously and would block a server living in the test's event loop.
 * Usage: node --import tsx mjpeg-server.ts <dir> <fps> [port]; prints the port on stdout.
 */
import { readdir, readFile } from "node:fs/promises";
import { createServer } from "node:http";
import path from "node:path";

const [dir, fpsText, portText] = process.argv.slice(2);
const files = (await readdir(dir!)).filter((f) => f.endsWith(".jpg")).sort();
const jpegs = await Promise.all(files.map((f) => readFile(path.join(dir!, f))));
const interval = 1000 / Number(fpsText ?? 10);

const server = createServer((req, res) => {
  res.writeHead(200, { "content-type": "multipart/x-mixed-replace; boundary=rollcallframe", "cache-control": "no-cache", connection: "close" });
  let i = 0;
  const send = () => {
    const jpeg = jpegs[i++ % jpegs.length]!;
    res.write(`--rollcallframe\r\nContent-Type: image/jpeg\r\nContent-Length: ${jpeg.length}\r\n\r\n`);
    res.write(jpeg);
    res.write("\r\n");
  };
  send();
  const timer = setInterval(send, interval);
  req.on("close", () => clearInterval(timer));
});
server.listen(Number(portText ?? 0), "127.0.0.1", () => process.stdout.write(`${(server.address() as { port: number }).port}\n`));
process.on("SIGTERM", () => process.exit(0));
