/**
 * Record-Route: which requests get it and what it says.
 *
 * RFC 3261 §16.6 step 4: a proxy that wants to stay in the dialog inserts Record-Route on
 * dialog-forming requests. Dialog-forming here: INVITE (RFC 3261 §12), SUBSCRIBE and
 * NOTIFY (RFC 6665 §4.1.3/§4.2), REFER (RFC 3515). MESSAGE is never record-routed
 * (RFC 3428 §4: "Proxies SHOULD NOT Record-Route MESSAGE requests"); neither are
 * requests already inside a dialog (To tag present, RFC 3261 §16.6 step 4).
 *
 * RFC 5658 double record-routing: when a request leaves through another interface or
 * transport than it came in on, the proxy inserts two entries: first the inbound
 * interface, then on top the outbound one. Downstream (UAS) reads the top entry first and
 * so reaches us on the outbound-side interface; upstream (UAC) reverses the set and
 * reaches us on the inbound-side interface. The public-side entry carries the flow token
 * of the UA's flow so in-dialog requests find that flow again (RFC 5626 §5.3).
 */
import { formatHostPort, type HostPort } from "./addresses.js";
import type { TransportKind } from "@edgepath/transport";

/** URI parameter of an edge's internal Record-Route entry carrying its edge mark. */
export const EDGE_MARK_PARAM = "em";

const DIALOG_FORMING: ReadonlySet<string> = new Set(["INVITE", "SUBSCRIBE", "NOTIFY", "REFER"]);

export function shouldRecordRoute(method: string, inDialog: boolean): boolean {
  return !inDialog && DIALOG_FORMING.has(method);
}

export interface RouteSide {
  readonly address: HostPort;
  readonly transport: TransportKind;
  /** Flow token of the UA's flow on this side, when this side faces a UA. */
  readonly flowToken?: string;
  /** On the internal side: the cluster's mark for this edge's internal address (FlowTokenCodec.edgeMark). */
  readonly edgeMark?: string;
}

export function recordRouteUri(side: RouteSide): string {
  const user = side.flowToken !== undefined ? `${side.flowToken}@` : "";
  // RFC 7118 §5.2: the URI transport parameter is "ws" for WS and WSS alike ("WSS" exists only in Via).
  const transport = side.transport === "udp" ? "" : `;transport=${side.transport === "wss" ? "ws" : side.transport}`;
  const mark = side.edgeMark !== undefined ? `;${EDGE_MARK_PARAM}=${side.edgeMark}` : "";
  return `<sip:${user}${formatHostPort(side.address)}${transport};lr${mark}>`;
}

/**
 * The Record-Route values to prepend, in prepend order (the last one ends on top).
 * One entry when both sides are the same interface and transport, else two (RFC 5658 §4).
 */
export function recordRouteValues(inbound: RouteSide, outbound: RouteSide): string[] {
  const same =
    inbound.transport === outbound.transport &&
    inbound.address.host === outbound.address.host &&
    inbound.address.port === outbound.address.port;
  if (same) return [recordRouteUri(outbound.flowToken !== undefined ? outbound : inbound)];
  return [recordRouteUri(inbound), recordRouteUri(outbound)];
}
