import { describe, expect, it } from "vitest";
import {
  STUN_MAGIC_COOKIE,
  buildBindingSuccessResponse,
  isStunBindingRequest,
  looksLikeStun,
  readXorMappedAddress,
} from "./stun.js";

function bindingRequest(txid: Buffer, attrs: Buffer = Buffer.alloc(0)): Buffer {
  const b = Buffer.alloc(20 + attrs.length);
  b.writeUInt16BE(0x0001, 0);
  b.writeUInt16BE(attrs.length, 2);
  b.writeUInt32BE(STUN_MAGIC_COOKIE, 4);
  txid.copy(b, 8);
  attrs.copy(b, 20);
  return b;
}

const TXID = Buffer.from("0102030405060708090a0b0c", "hex");

describe("STUN binding (RFC 5389, RFC 5626 §4.4.2)", () => {
  it("RFC 5389 §6: recognises a binding request by type, cookie and length", () => {
    expect(isStunBindingRequest(bindingRequest(TXID))).toBe(true);
    const withAttr = bindingRequest(TXID, Buffer.from("80220004616263ff", "hex")); // SOFTWARE, padded
    expect(isStunBindingRequest(withAttr)).toBe(true);
  });

  it("RFC 5389 §6: rejects SIP, a wrong cookie, a length mismatch and non-request types", () => {
    expect(looksLikeStun(Buffer.from("OPTIONS sip:a@b SIP/2.0\r\n\r\n"))).toBe(false);
    const badCookie = bindingRequest(TXID);
    badCookie.writeUInt32BE(0x2112a443, 4);
    expect(isStunBindingRequest(badCookie)).toBe(false);
    const badLength = bindingRequest(TXID);
    badLength.writeUInt16BE(4, 2);
    expect(isStunBindingRequest(badLength)).toBe(false);
    const indication = bindingRequest(TXID);
    indication.writeUInt16BE(0x0011, 0); // Binding indication
    expect(looksLikeStun(indication)).toBe(true);
    expect(isStunBindingRequest(indication)).toBe(false);
    expect(isStunBindingRequest(Buffer.alloc(19))).toBe(false);
  });

  it("RFC 5389 §15.2: XOR-MAPPED-ADDRESS for IPv4 is port ^ 0x2112 and address ^ cookie", () => {
    const res = buildBindingSuccessResponse(bindingRequest(TXID), "192.0.2.1", 32853)!;
    expect(res.readUInt16BE(0)).toBe(0x0101);
    expect(res.readUInt16BE(2)).toBe(12);
    expect(res.readUInt32BE(4)).toBe(STUN_MAGIC_COOKIE);
    expect(res.subarray(8, 20).equals(TXID)).toBe(true);
    expect(res.readUInt16BE(20)).toBe(0x0020);
    expect(res.readUInt16BE(22)).toBe(8);
    expect(res[25]).toBe(0x01);
    expect(res.readUInt16BE(26)).toBe(32853 ^ 0x2112);
    expect(res.readUInt32BE(28)).toBe((0xc0000201 ^ STUN_MAGIC_COOKIE) >>> 0);
    expect(readXorMappedAddress(res)).toEqual({ family: 4, address: "192.0.2.1", port: 32853 });
  });

  it("RFC 5389 §15.2: IPv6 X-Address is XORed with cookie and transaction ID", () => {
    const res = buildBindingSuccessResponse(bindingRequest(TXID), "2001:db8::1:2", 5060)!;
    expect(res.readUInt16BE(2)).toBe(24);
    expect(res[25]).toBe(0x02);
    // First 4 address bytes: 0x20010db8 ^ cookie.
    expect(res.readUInt32BE(28)).toBe((0x20010db8 ^ STUN_MAGIC_COOKIE) >>> 0);
    // Last byte: 0x02 ^ last byte of the transaction ID (0x0c).
    expect(res[43]).toBe(0x02 ^ 0x0c);
    expect(readXorMappedAddress(res)).toEqual({ family: 6, address: "2001:db8:0:0:0:0:1:2", port: 5060 });
  });

  it("parses IPv6 with an embedded IPv4 tail and refuses non-literals", () => {
    const res = buildBindingSuccessResponse(bindingRequest(TXID), "::ffff:192.0.2.1", 1)!;
    expect(readXorMappedAddress(res)?.address).toBe("0:0:0:0:0:ffff:c000:201");
    expect(buildBindingSuccessResponse(bindingRequest(TXID), "edge.example.com", 1)).toBeUndefined();
    expect(buildBindingSuccessResponse(bindingRequest(TXID), "1.2.3.256", 1)).toBeUndefined();
    expect(buildBindingSuccessResponse(bindingRequest(TXID), "1::2::3", 1)).toBeUndefined();
  });
});
