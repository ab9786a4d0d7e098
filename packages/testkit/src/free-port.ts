import { createSocket } from "node:dgram";
import { createServer } from "node:net";

/**
 * A port that was free a moment ago: bind port 0 on `host`, read what the kernel
 * assigned, close.
 *
 * This is inherently racy: between our close() and the real server's bind() another
 * process (or a parallel test file) may take the port. The kernel hands out ephemeral
 * ports round-robin, so an immediate reuse is rare but not impossible; callers that
 * start servers on it ({@link startRedis}) detect EADDRINUSE in the server's log and
 * retry with a new port. nats-server avoids the race entirely with `-p -1`.
 */
export async function freePort(kind: "tcp" | "udp", host = "127.0.0.1"): Promise<number> {
  if (kind === "tcp") {
    return new Promise<number>((resolve, reject) => {
      const server = createServer();
      server.unref();
      server.once("error", reject);
      server.listen({ port: 0, host, exclusive: true }, () => {
        const addr = server.address();
        const port = typeof addr === "object" && addr !== null ? addr.port : 0;
        server.close(() => (port > 0 ? resolve(port) : reject(new Error("no port assigned"))));
      });
    });
  }
  return new Promise<number>((resolve, reject) => {
    const socket = createSocket(host.includes(":") ? "udp6" : "udp4");
    socket.unref();
    socket.once("error", reject);
    socket.bind({ port: 0, address: host, exclusive: true }, () => {
      const port = socket.address().port;
      socket.close(() => resolve(port));
    });
  });
}

/**
 * A port free for both UDP and TCP on `host` (SIP listens on both at the same number).
 * Tries a few candidates from the TCP allocator until the UDP bind also succeeds.
 */
export async function freeSipPort(host = "127.0.0.1"): Promise<number> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const port = await freePort("tcp", host);
    const ok = await new Promise<boolean>((resolve) => {
      const socket = createSocket(host.includes(":") ? "udp6" : "udp4");
      socket.unref();
      socket.once("error", () => resolve(false));
      socket.bind({ port, address: host, exclusive: true }, () => socket.close(() => resolve(true)));
    });
    if (ok) return port;
  }
  throw new Error(`no port free for both UDP and TCP on ${host}`);
}
