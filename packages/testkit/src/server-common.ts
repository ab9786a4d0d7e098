import { connect } from "node:net";
import { setTimeout as delay } from "node:timers/promises";
import { ServerStartError } from "./errors.js";
import { describeExit, type ManagedProcess } from "./managed-process.js";
import { waitFor } from "./wait-for.js";

/**
 * Waits until `probe` says the server is ready, racing the process's exit: a server that
 * dies during start-up fails the wait at once with its log, instead of after the timeout.
 */
export async function awaitReady(
  server: string,
  proc: ManagedProcess,
  probe: () => Promise<boolean>,
  timeoutMs: number,
): Promise<void> {
  const ac = new AbortController();
  void proc.exited.then((info) => {
    ac.abort(new ServerStartError(server, `${describeExit(info)} before it was ready`, proc.log()));
  });
  try {
    await waitFor(async () => ((await probe()) ? true : undefined), {
      timeoutMs,
      intervalMs: 20,
      what: `${server} to become ready`,
      signal: ac.signal,
    });
  } catch (err) {
    if (err instanceof ServerStartError) throw err;
    await proc.kill();
    throw new ServerStartError(server, err instanceof Error ? err.message : String(err), proc.log(), { cause: err });
  }
}

/**
 * Opens a TCP connection, optionally writes `send`, and resolves with what was received
 * once `complete(received)` says so (default: the first CRLF-terminated line, returned
 * without the CRLF), or `undefined` on any error / after `timeoutMs`.
 */
export function tcpProbe(
  host: string,
  port: number,
  send: string | undefined,
  timeoutMs = 500,
  complete?: (received: string) => boolean,
): Promise<string | undefined> {
  return new Promise((resolve) => {
    let buf = "";
    const socket = connect({ host, port });
    const done = (v: string | undefined): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(v);
    };
    const timer = setTimeout(() => done(undefined), timeoutMs);
    socket.setEncoding("utf8");
    socket.once("error", () => done(undefined));
    socket.once("connect", () => {
      if (send !== undefined) socket.write(send);
    });
    socket.on("data", (chunk: string) => {
      buf += chunk;
      if (complete !== undefined) {
        if (complete(buf)) done(buf);
        return;
      }
      const eol = buf.indexOf("\r\n");
      if (eol >= 0) done(buf.slice(0, eol));
    });
    socket.once("end", () => done(buf === "" ? undefined : buf));
  });
}

export function addressInUse(log: string): boolean {
  return /address already in use|EADDRINUSE|bind: address/i.test(log);
}

/**
 * Starts a server again on the port it just released (a restart keeps its address, as a
 * restarted Redis or NATS pod would), retrying briefly while the kernel lets go of the port.
 */
export async function relaunchOnPort<T>(launch: (port: number) => Promise<T>, port: number): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await launch(port);
    } catch (err) {
      if (!(err instanceof ServerStartError && addressInUse(err.log)) || attempt >= 20) throw err;
      await delay(100);
    }
  }
}
