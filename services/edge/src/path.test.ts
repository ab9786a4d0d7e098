import { describe, expect, it } from "vitest";
import { parseNameAddr, parseSipUri } from "@edgepath/sip";
import { decidePath, pathValue } from "./path.js";
import { request } from "./test-support.js";

const INSTANCE = '+sip.instance="<urn:uuid:00000000-0000-1000-8000-AABBCCDDEEFF>"';

describe("decidePath", () => {
  it("RFC 3327 §5.2: inserts Path for a UA that supports path", () => {
    const d = decidePath(request({ method: "REGISTER", headers: ["Supported: path", "Contact: <sip:a@192.0.2.10>"] }), "insert");
    expect(d).toEqual({ insert: true, outbound: false });
  });

  it("RFC 3327 §5.1/§5.2: a UA without Supported: path still gets Path under the default policy (the registrar never echoes it)", () => {
    const d = decidePath(request({ method: "REGISTER", headers: ["Contact: <sip:a@192.0.2.10>"] }), "insert");
    expect(d.insert).toBe(true);
  });

  it("RFC 3327 §5.2: policy 'reject' answers 421 with Require: path to a UA without Supported: path", () => {
    const d = decidePath(request({ method: "REGISTER", headers: ["Contact: <sip:a@192.0.2.10>"] }), "reject");
    expect(d).toEqual({ insert: false, status: 421, reason: "Extension Required", headers: [["Require", "path"]] });
  });

  it("RFC 3327 §5.2: policy 'reject' lets a UA that supports path through (option tags compared case-insensitively)", () => {
    const d = decidePath(request({ method: "REGISTER", headers: ["Supported: outbound, PATH", "Contact: <sip:a@192.0.2.10>"] }), "reject");
    expect(d.insert).toBe(true);
  });

  it("RFC 5626 §5.1: first hop + Contact with reg-id is an outbound registration (ob)", () => {
    const d = decidePath(request({ method: "REGISTER", headers: ["Supported: path, outbound", `Contact: <sip:a@192.0.2.10;transport=tcp>;${INSTANCE};reg-id=1`] }), "insert");
    expect(d).toEqual({ insert: true, outbound: true });
  });

  it("RFC 5626 §5.1: no ob when we are not the first hop (two Vias)", () => {
    const d = decidePath(
      request({
        method: "REGISTER",
        vias: ["SIP/2.0/UDP 198.51.100.1;branch=z9hG4bKp1", "SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKu1"],
        headers: [`Contact: <sip:a@192.0.2.10>;${INSTANCE};reg-id=1`],
      }),
      "insert",
    );
    expect(d).toEqual({ insert: true, outbound: false });
  });

  it("RFC 5626 §4.2: no ob without reg-id (instance alone is not outbound), nor for Contact: * or a query", () => {
    expect(decidePath(request({ method: "REGISTER", headers: [`Contact: <sip:a@192.0.2.10>;${INSTANCE}`] }), "insert")).toEqual({ insert: true, outbound: false });
    expect(decidePath(request({ method: "REGISTER", headers: ["Contact: *", "Expires: 0"] }), "insert")).toEqual({ insert: true, outbound: false });
    expect(decidePath(request({ method: "REGISTER" }), "insert")).toEqual({ insert: true, outbound: false });
  });
});

describe("pathValue", () => {
  it("DESIGN §2.3: <sip:TOKEN@INTERNAL;lr;ob> for outbound, without ;ob otherwise", () => {
    expect(pathValue("tok-en_1", { host: "10.0.0.5", port: 5070 }, true)).toBe("<sip:tok-en_1@10.0.0.5:5070;lr;ob>");
    expect(pathValue("tok", { host: "10.0.0.5", port: 5070 }, false)).toBe("<sip:tok@10.0.0.5:5070;lr>");
  });

  it("RFC 3261 §19.1.1: IPv6 internal addresses are bracketed and the value parses back", () => {
    const v = pathValue("AbC-_9", { host: "fd00::1", port: 5070 }, true);
    expect(v).toBe("<sip:AbC-_9@[fd00::1]:5070;lr;ob>");
    const uri = parseSipUri(parseNameAddr(v).uri);
    expect(uri.user).toBe("AbC-_9");
    expect(uri.port).toBe(5070);
    expect(uri.params.has("lr")).toBe(true);
    expect(uri.params.has("ob")).toBe(true);
  });
});
