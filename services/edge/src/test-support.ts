/**
 * Helpers for this package's unit tests (not exported from index.ts).
 */
import { parseMessage, type SipRequest } from "@edgepath/sip";
import type { FlowInfo } from "@edgepath/transport";

export interface RequestSpec {
  readonly method?: string;
  readonly uri?: string;
  readonly vias?: readonly string[];
  readonly headers?: readonly string[];
  readonly callId?: string;
  readonly cseq?: number;
  readonly fromTag?: string;
  readonly toTag?: string;
  /** Max-Forwards value; null leaves the header out. */
  readonly maxForwards?: number | null;
}

/** A request with every mandatory header; `headers` are appended as given. */
export function request(spec: RequestSpec = {}): SipRequest {
  const method = spec.method ?? "INVITE";
  const lines = [
    `${method} ${spec.uri ?? "sip:bob@example.com"} SIP/2.0`,
    ...(spec.vias ?? ["SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKabc123;rport"]).map((v) => `Via: ${v}`),
    ...(spec.maxForwards === null ? [] : [`Max-Forwards: ${spec.maxForwards ?? 70}`]),
    `From: <sip:alice@example.com>;tag=${spec.fromTag ?? "ft1"}`,
    `To: <sip:bob@example.com>${spec.toTag !== undefined ? `;tag=${spec.toTag}` : ""}`,
    `Call-ID: ${spec.callId ?? "call-1@192.0.2.10"}`,
    `CSeq: ${spec.cseq ?? 1} ${method}`,
    ...(spec.headers ?? []),
    "Content-Length: 0",
  ];
  const r = parseMessage(Buffer.from(`${lines.join("\r\n")}\r\n\r\n`));
  if (!r.ok) throw r.error;
  if (r.message.kind !== "request") throw new Error("expected a request");
  return r.message;
}

export function udpFlow(remoteAddress = "192.0.2.10", remotePort = 5060, localPort = 5060): FlowInfo {
  return { id: 0, transport: "udp", localAddress: "203.0.113.1", localPort, remoteAddress, remotePort };
}

export function tcpFlow(id: number, remoteAddress = "192.0.2.10", remotePort = 40000, localPort = 5060): FlowInfo {
  return { id, transport: "tcp", localAddress: "203.0.113.1", localPort, remoteAddress, remotePort };
}
