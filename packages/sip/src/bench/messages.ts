/** Sample messages shared by the benchmark and tests: what a registrar and an edge see all day. */
const crlf = (lines: string[]): string => lines.join("\r\n");

export const REGISTER = crlf([
  "REGISTER sip:example.com SIP/2.0",
  "Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK776asdhds;rport",
  "Max-Forwards: 70",
  "To: \"Alice\" <sip:alice@example.com>",
  "From: \"Alice\" <sip:alice@example.com>;tag=1928301774",
  "Call-ID: a84b4c76e66710@pc33.example.com",
  "CSeq: 314159 REGISTER",
  "Contact: <sip:alice@192.0.2.10:5060;transport=udp>;expires=3600;+sip.instance=\"<urn:uuid:00000000-0000-1000-8000-AABBCCDDEEFF>\";reg-id=1",
  "Supported: path, outbound, gruu",
  "Expires: 3600",
  "User-Agent: Example UA/1.0",
  "Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, MESSAGE, SUBSCRIBE, NOTIFY",
  "Content-Length: 0",
  "",
  "",
]);

const SDP = crlf([
  "v=0",
  "o=alice 2890844526 2890844526 IN IP4 192.0.2.10",
  "s=-",
  "c=IN IP4 192.0.2.10",
  "t=0 0",
  "m=audio 49170 RTP/AVP 0 8 97",
  "a=rtpmap:0 PCMU/8000",
  "a=rtpmap:8 PCMA/8000",
  "a=rtpmap:97 iLBC/8000",
  "",
]);

export const INVITE = crlf([
  "INVITE sip:bob@example.com SIP/2.0",
  "Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK74bf9;rport",
  "Max-Forwards: 70",
  "Route: <sip:edge1.example.com;lr>",
  "From: \"Alice\" <sip:alice@example.com>;tag=9fxced76sl",
  "To: <sip:bob@example.com>",
  "Call-ID: 3848276298220188511@pc33.example.com",
  "CSeq: 1 INVITE",
  "Contact: <sip:alice@192.0.2.10:5060;transport=udp>",
  "Allow: INVITE, ACK, CANCEL, BYE, OPTIONS",
  "Supported: replaces, timer",
  "User-Agent: Example UA/1.0",
  "Content-Type: application/sdp",
  `Content-Length: ${Buffer.byteLength(SDP)}`,
  "",
  SDP,
]);

/** RFC 3428 MESSAGE over a stream with an 8 kB text body: the large-message case (head-only decode). */
const TEXT_8K = Array.from({ length: 128 }, (_, i) => `line ${String(i).padStart(3, "0")} of a long instant message ${"x".repeat(27)}`).join("\r\n");

export const MESSAGE_8K = crlf([
  "MESSAGE sip:bob@example.com SIP/2.0",
  "Via: SIP/2.0/TCP 192.0.2.10:5060;branch=z9hG4bK776msg;rport",
  "Max-Forwards: 70",
  "Route: <sip:edge1.example.com;transport=tcp;lr>",
  "From: \"Alice\" <sip:alice@example.com>;tag=49583",
  "To: <sip:bob@example.com>",
  "Call-ID: asd88asd77a@192.0.2.10",
  "CSeq: 1 MESSAGE",
  "Content-Type: text/plain",
  `Content-Length: ${Buffer.byteLength(TEXT_8K)}`,
  "",
  TEXT_8K,
]);
