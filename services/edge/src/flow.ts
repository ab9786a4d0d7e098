/**
 * Conversions between the transport layer's flows and signed flow tokens.
 *
 * One function builds the descriptor from a flow, so the token an edge put in a Path
 * when the REGISTER arrived and the token it publishes in flow-failed when that
 * connection closes are byte-identical (the HMAC is deterministic): the worker finds the
 * bindings of the flow by the token string alone.
 */
import type { FlowDescriptor, FlowTokenCodec } from "@edgepath/flow-token";
import type { FlowInfo, FlowRef } from "@edgepath/transport";

export function descriptorOf(flow: FlowInfo): FlowDescriptor {
  return {
    transport: flow.transport,
    localAddress: flow.localAddress,
    localPort: flow.localPort,
    remoteAddress: flow.remoteAddress,
    remotePort: flow.remotePort,
    connectionId: flow.id,
  };
}

export function flowRefOf(d: FlowDescriptor): FlowRef {
  return {
    id: d.connectionId,
    transport: d.transport,
    remoteAddress: d.remoteAddress,
    remotePort: d.remotePort,
    localAddress: d.localAddress,
    localPort: d.localPort,
  };
}

export function tokenOf(codec: FlowTokenCodec, flow: FlowInfo): string {
  return codec.encode(descriptorOf(flow));
}

/** Same flow as seen from the edge: same transport, same connection (or same UDP 5-tuple). */
export function isSameFlow(d: FlowDescriptor, flow: FlowInfo): boolean {
  if (d.transport !== flow.transport) return false;
  if (flow.id !== 0 || d.connectionId !== 0) return d.connectionId === flow.id && d.remotePort === flow.remotePort;
  return (
    d.remoteAddress === flow.remoteAddress &&
    d.remotePort === flow.remotePort &&
    d.localPort === flow.localPort
  );
}
