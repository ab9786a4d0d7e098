import { isIP } from "node:net";

/**
 * "::ffff:192.0.2.1" (how a dual-stack IPv6 socket reports an IPv4 peer) -> "192.0.2.1", so a flow
 * has one spelling of its peer whichever socket it came through. Other strings are returned as-is.
 */
export function normaliseAddress(address: string): string {
  // Fast path: no IPv4-mapped prefix possible.
  if (address.length < 8 || address.charCodeAt(0) !== 58 /* : */) return address;
  if (address.startsWith("::ffff:") && address.indexOf(".", 7) !== -1) return address.slice(7);
  if (address.startsWith("::FFFF:") && address.indexOf(".", 7) !== -1) return address.slice(7);
  return address;
}

/** Address family of an IP literal (brackets around IPv6 allowed), 0 when it is not one. */
export function addressFamily(address: string): 0 | 4 | 6 {
  return isIP(address) as 0 | 4 | 6;
}

/** "[2001:db8::1]" -> "2001:db8::1" (a Via or URI host spelling); other strings unchanged. */
export function stripBrackets(address: string): string {
  return address.charCodeAt(0) === 91 /* [ */ && address.charCodeAt(address.length - 1) === 93 /* ] */
    ? address.slice(1, -1)
    : address;
}

/** True for the unspecified address of either family (a wildcard bind). */
export function isWildcard(host: string): boolean {
  return host === "0.0.0.0" || host === "::" || host === "0:0:0:0:0:0:0:0";
}
