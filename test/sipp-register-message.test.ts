/**
 * sipp against the embedded system (Debian's sip-tester on PATH): 200 users REGISTER through the
 * edge from one sipp socket (port P), then a sipp UAS bound to that same port P plays the 200
 * phones while a sipp UAC sends each of them a MESSAGE (RFC 3428) at a modest rate. Every MESSAGE
 * goes edge -> owning worker -> (Route = Path) edge -> the registered UDP flow -> the UAS, and its
 * 200 back the same way. Zero failed calls on any of the three sipp runs.
 */
import { createSocket } from "node:dgram";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort, runSipp, waitFor, type SippResult } from "@edgepath/testkit";
import { startEmbedded, type EmbeddedSystem } from "./support/embedded.js";

const USERS = 200;
const scenarios = resolve(import.meta.dirname, "sipp");
let sys: EmbeddedSystem;
let dir: string;

beforeAll(async () => {
  sys = await startEmbedded();
  dir = await mkdtemp(join(tmpdir(), "edgepath-sipp-msg-"));
});
afterAll(async () => {
  await sys?.stop();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

/** sipp has bound `port` once we can no longer bind it ourselves (readiness by probing, not sleeping). */
function udpPortTaken(port: number): Promise<boolean> {
  return new Promise((done) => {
    const s = createSocket("udp4");
    s.once("error", () => done(true));
    s.bind({ port, address: "127.0.0.1", exclusive: true }, () => s.close(() => done(false)));
  });
}

function describeRun(name: string, r: SippResult): string {
  const tail = (s: string | undefined): string => (s ?? "").slice(-2000);
  return `${name}: exit ${r.exitCode}, ${r.successful} ok, ${r.failed} failed, timedOut ${r.timedOut}\n${tail(r.errors)}\n${tail(r.stderr)}`;
}

describe("sipp: many registrations, then MESSAGEs to every registered user", () => {
  it("DESIGN §2: 200 users REGISTER over UDP and each receives a MESSAGE through edge and worker, zero failures", { timeout: 180_000 }, async () => {
    const users = Array.from({ length: USERS }, (_, i) => `sipp${String(i).padStart(4, "0")};example.com`);
    const injection = join(dir, "users.csv");
    await writeFile(injection, `SEQUENTIAL\n${users.join("\n")}\n`);
    const phonePort = await freePort("udp");
    const target = `127.0.0.1:${sys.sipPort}`;

    const reg = await runSipp({
      target, scenarioFile: join(scenarios, "register.xml"), injectionFile: injection,
      transport: "u1", localPort: phonePort, calls: USERS, rate: 100, timeoutMs: 60_000,
    });
    expect(reg.failed, describeRun("register", reg)).toBe(0);
    expect(reg.successful, describeRun("register", reg)).toBe(USERS);
    expect(reg.exitCode, describeRun("register", reg)).toBe(0);

    // Every user is registered with the edge's Path (admin view, spot-checked at both ends).
    for (const user of ["sipp0000", `sipp${String(USERS - 1).padStart(4, "0")}`]) {
      const res = await fetch(`${sys.adminUrl}/v1/aors/${encodeURIComponent(`sip:${user}@example.com`)}`);
      const view = (await res.json()) as { bindings: Array<{ contact: string; reachable: boolean }> };
      expect(view.bindings).toHaveLength(1);
      expect(view.bindings[0]!.contact).toContain(`:${phonePort}`);
      expect(view.bindings[0]!.reachable).toBe(true);
    }

    // The phones: a UAS on the very port the REGISTERs came from (the flow the edge holds).
    const uas = runSipp({
      scenarioFile: join(scenarios, "message-uas.xml"), transport: "u1", localPort: phonePort, calls: USERS, timeoutMs: 120_000,
    });
    await waitFor(async () => ((await udpPortTaken(phonePort)) ? true : undefined), { timeoutMs: 15_000, what: `sipp UAS bound to udp ${phonePort}` });

    const uac = await runSipp({
      target, scenarioFile: join(scenarios, "message-uac.xml"), injectionFile: injection,
      transport: "u1", calls: USERS, rate: 50, timeoutMs: 90_000,
    });
    const phones = await uas;
    expect(uac.failed, describeRun("message uac", uac)).toBe(0);
    expect(uac.successful, describeRun("message uac", uac)).toBe(USERS);
    expect(uac.exitCode, describeRun("message uac", uac)).toBe(0);
    expect(phones.failed, describeRun("message uas", phones)).toBe(0);
    expect(phones.successful, describeRun("message uas", phones)).toBe(USERS);
  });
});
