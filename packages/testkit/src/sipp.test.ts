import { describe, it, expect } from "vitest";
import { freePort } from "./free-port.js";
import { countsFromScreen, countsFromStats, runSipp } from "./sipp.js";

describe("runSipp", () => {
  it("built-in UAC against built-in UAS on loopback: 5 successful calls on both sides", async () => {
    const uasPort = await freePort("udp");
    const uas = runSipp({ scenario: "uas", calls: 5, localPort: uasPort, timeoutMs: 20_000 });
    // The UAS needs a moment to bind; the UAC's INVITEs are retransmitted (Timer A) anyway.
    const uac = await runSipp({ scenario: "uac", target: `127.0.0.1:${uasPort}`, calls: 5, rate: 20, timeoutMs: 20_000 });
    const server = await uas;
    expect(uac.timedOut).toBe(false);
    expect(uac.exitCode).toBe(0);
    expect(uac.successful).toBe(5);
    expect(uac.failed).toBe(0);
    expect(uac.statsCsv).toContain("SuccessfulCall(C)");
    expect(server.successful).toBe(5);
    expect(server.exitCode).toBe(0);
  });

  it("kills sipp at timeoutMs and reports timedOut (UAC against a port nobody answers)", async () => {
    const silent = await freePort("udp");
    const result = await runSipp({
      scenario: "uac",
      target: `127.0.0.1:${silent}`,
      calls: 1,
      timeoutMs: 1500,
      extraArgs: ["-timeout", "60s"], // keep sipp's own global timeout out of the way
    });
    expect(result.timedOut).toBe(true);
    expect(result.successful).toBe(0);
  });
});

describe("sipp output parsing", () => {
  it("reads cumulative counters from the last stats row", () => {
    const csv = "A;SuccessfulCall(P);SuccessfulCall(C);FailedCall(P);FailedCall(C)\nx;1;1;0;0\ny;0;7;1;2\n";
    expect(countsFromStats(csv)).toEqual({ successful: 7, failed: 2 });
    expect(countsFromStats("only;a;header\n")).toBeUndefined();
  });

  it("reads the cumulative column of the last screen", () => {
    const screen = [
      "  Successful call        |        0                  |        3",
      "  Failed call            |        0                  |        1",
      "  Successful call        |        2                  |        9",
      "  Failed call            |        0                  |        4",
    ].join("\n");
    expect(countsFromScreen(screen)).toEqual({ successful: 9, failed: 4 });
    expect(countsFromScreen("nothing here")).toBeUndefined();
  });
});
