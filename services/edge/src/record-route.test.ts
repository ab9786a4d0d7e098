import { describe, expect, it } from "vitest";
import { parseNameAddr, parseSipUri } from "@edgepath/sip";
import { recordRouteUri, recordRouteValues, shouldRecordRoute, type RouteSide } from "./record-route.js";

const PUBLIC_UDP: RouteSide = { address: { host: "203.0.113.1", port: 5060 }, transport: "udp", flowToken: "TOKpub" };
const INTERNAL: RouteSide = { address: { host: "10.0.0.5", port: 5070 }, transport: "udp" };

describe("shouldRecordRoute", () => {
  it("RFC 3261 §16.6 step 4: dialog-forming requests outside a dialog are record-routed", () => {
    for (const m of ["INVITE", "SUBSCRIBE", "NOTIFY", "REFER"]) expect(shouldRecordRoute(m, false)).toBe(true);
  });

  it("RFC 3428 §4: MESSAGE is never record-routed", () => {
    expect(shouldRecordRoute("MESSAGE", false)).toBe(false);
  });

  it("RFC 3261 §16.6: REGISTER, OPTIONS and in-dialog requests are not record-routed", () => {
    expect(shouldRecordRoute("REGISTER", false)).toBe(false);
    expect(shouldRecordRoute("OPTIONS", false)).toBe(false);
    expect(shouldRecordRoute("INVITE", true)).toBe(false);
    expect(shouldRecordRoute("BYE", true)).toBe(false);
  });
});

describe("recordRouteUri transport names", () => {
  it("RFC 7118 §5.2: a WS or WSS side is transport=ws in the URI; TLS keeps transport=tls", () => {
    const at = { host: "203.0.113.1", port: 8443 };
    expect(recordRouteUri({ address: at, transport: "wss", flowToken: "T" })).toBe("<sip:T@203.0.113.1:8443;transport=ws;lr>");
    expect(recordRouteUri({ address: at, transport: "ws" })).toBe("<sip:203.0.113.1:8443;transport=ws;lr>");
    expect(recordRouteUri({ address: at, transport: "tls" })).toBe("<sip:203.0.113.1:8443;transport=tls;lr>");
  });
});

describe("recordRouteValues", () => {
  it("RFC 5658 §4: crossing from public to internal inserts two entries, the outbound side on top", () => {
    const values = recordRouteValues(PUBLIC_UDP, INTERNAL);
    // prepend order: the last one ends on top
    expect(values).toEqual(["<sip:TOKpub@203.0.113.1:5060;lr>", "<sip:10.0.0.5:5070;lr>"]);
  });

  it("RFC 5658 §4: a transport change on the same address also double record-routes, with transport=", () => {
    const tcp: RouteSide = { address: { host: "203.0.113.1", port: 5060 }, transport: "tcp", flowToken: "TOKtcp" };
    const udp: RouteSide = { address: { host: "203.0.113.1", port: 5060 }, transport: "udp" };
    expect(recordRouteValues(tcp, udp)).toEqual(["<sip:TOKtcp@203.0.113.1:5060;transport=tcp;lr>", "<sip:203.0.113.1:5060;lr>"]);
  });

  it("RFC 3261 §16.6 step 4: same interface and transport: a single entry, keeping the flow token of the UA side", () => {
    const out: RouteSide = { address: PUBLIC_UDP.address, transport: "udp", flowToken: "TOKcallee" };
    expect(recordRouteValues(PUBLIC_UDP, out)).toEqual(["<sip:TOKcallee@203.0.113.1:5060;lr>"]);
    const outNoToken: RouteSide = { address: PUBLIC_UDP.address, transport: "udp" };
    expect(recordRouteValues(PUBLIC_UDP, outNoToken)).toEqual(["<sip:TOKpub@203.0.113.1:5060;lr>"]);
  });

  it("RFC 3261 §19.1.1: the URI is loose-routing and parses back with the token as user part", () => {
    const uri = parseSipUri(parseNameAddr(recordRouteUri({ address: { host: "2001:db8::1", port: 5061 }, transport: "tls", flowToken: "a-b_c" })).uri);
    expect(uri.user).toBe("a-b_c");
    expect(uri.host).toBe("2001:db8::1");
    expect(uri.port).toBe(5061);
    expect(uri.params.get("transport")).toBe("tls");
    expect(uri.params.has("lr")).toBe(true);
  });

  it("an internal-side entry carries the edge mark as the em parameter, which parses back", () => {
    const internal: RouteSide = { address: { host: "10.0.0.5", port: 5070 }, transport: "udp", edgeMark: "AbCdEfGhIjKlMnOpQrStUv" };
    expect(recordRouteUri(internal)).toBe("<sip:10.0.0.5:5070;lr;em=AbCdEfGhIjKlMnOpQrStUv>");
    expect(parseSipUri(parseNameAddr(recordRouteUri(internal)).uri).params.get("em")).toBe("AbCdEfGhIjKlMnOpQrStUv");
  });
});
