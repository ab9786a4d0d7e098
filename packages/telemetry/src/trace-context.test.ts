import { describe, expect, it } from "vitest";
import { TraceFlags } from "@opentelemetry/api";
import { formatTraceparent, parseTraceparent } from "./trace-context.js";

const TID = "4bf92f3577b34da6a3ce929d0e0e4736";
const SID = "00f067aa0ba902b7";

describe("W3C traceparent codec", () => {
  it("W3C Trace Context §3.2: round-trips version 00 with the sampled flag", () => {
    const sc = parseTraceparent(`00-${TID}-${SID}-01`);
    expect(sc).toEqual({ traceId: TID, spanId: SID, traceFlags: TraceFlags.SAMPLED, isRemote: true });
    expect(formatTraceparent(sc!)).toBe(`00-${TID}-${SID}-01`);
  });

  it("§3.2.2.5: only the sampled bit is kept; unsampled formats as 00", () => {
    const sc = parseTraceparent(`00-${TID}-${SID}-00`);
    expect(sc?.traceFlags).toBe(TraceFlags.NONE);
    expect(formatTraceparent(sc!)).toBe(`00-${TID}-${SID}-00`);
    expect(parseTraceparent(`00-${TID}-${SID}-03`)?.traceFlags).toBe(TraceFlags.SAMPLED);
  });

  it.each([
    ["empty", ""],
    ["version ff (§3.2.2.1)", `ff-${TID}-${SID}-01`],
    ["all-zero trace id (§3.2.2.3)", `00-${"0".repeat(32)}-${SID}-01`],
    ["all-zero parent id (§3.2.2.4)", `00-${TID}-${"0".repeat(16)}-01`],
    ["uppercase hex", `00-${TID.toUpperCase()}-${SID}-01`],
    ["version 00 with trailing data", `00-${TID}-${SID}-01-extra`],
    ["short trace id", `00-${TID.slice(1)}-${SID}-01`],
    ["wrong separators", `00_${TID}_${SID}_01`],
    ["non-hex flags", `00-${TID}-${SID}-zz`],
    ["header injection attempt", `00-${TID}-${SID}-01\r\nVia: x`],
  ])("§4.3: an invalid traceparent (%s) is ignored", (_why, value) => {
    expect(parseTraceparent(value)).toBeUndefined();
  });

  it("§4.3: a future version is parsed by its first four fields", () => {
    expect(parseTraceparent(`cc-${TID}-${SID}-01-what-the-future-holds`)?.traceId).toBe(TID);
    expect(parseTraceparent(`cc-${TID}-${SID}-01x`)).toBeUndefined();
  });

  it("tracestate is carried opaquely", () => {
    const sc = parseTraceparent(`00-${TID}-${SID}-01`, "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE");
    expect(sc?.traceState?.serialize()).toBe("rojo=00f067aa0ba902b7,congo=t61rcWkgMzE");
    expect(sc?.traceState?.get("congo")).toBe("t61rcWkgMzE");
  });

  it("undefined in, undefined out", () => {
    expect(parseTraceparent(undefined)).toBeUndefined();
  });
});
