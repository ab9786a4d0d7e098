/**
 * EDGEPATH_DOMAIN_ALIASES against the embedded system over real sockets: a Request-URI naming the
 * edge's address (as carriers send: `sip:+1555...@EDGE_IP`) reaches the domain's user, and a phone
 * configured by IP (REGISTER sip:EDGE_IP, To sip:bob@EDGE_IP) is the domain's bob. Kamailio's
 * `alias` does the same for `is_myself`; without it such requests got 404 Domain Not Served Here.
 */
import { describe, expect, it } from "vitest";
import { randomToken, sipBody, sipHeader, sipStatus, TestUa } from "@edgepath/testkit";
import { embeddedForFile } from "./support/embedded.js";
import { answer, isMessage, messageText, register } from "./support/ua.js";

const { edge } = embeddedForFile({ EDGEPATH_DOMAIN_ALIASES: "127.0.0.1=example.com" });

/** Sends a MESSAGE to `to` and returns what the callee `bob` got (answered 200) and the sender's final status. */
async function deliver(alice: TestUa, bob: TestUa, to: string, body: string): Promise<{ got: string; status: number }> {
  const text = messageText(alice, "alice", to, body);
  const pending = alice.request(text, edge(), 10_000);
  const got = await bob.nextMessage(isMessage(sipHeader(text, "call-id")!), 10_000);
  bob.send(answer(got, 200, "OK"), edge());
  return { got, status: sipStatus(await pending) ?? 0 };
}

describe("domain aliases (EDGEPATH_DOMAIN_ALIASES=127.0.0.1=example.com)", () => {
  it("a Request-URI naming the edge's address reaches the user registered at the domain", async () => {
    await using bob = await TestUa.create({ transport: "udp" });
    await using alice = await TestUa.create({ transport: "udp" });
    const user = `bob-${randomToken(3)}`;
    await register(bob, edge(), user); // To: sip:USER@example.com
    const { got, status } = await deliver(alice, bob, `sip:${user}@127.0.0.1`, "to the edge's IP");
    expect(sipBody(got)).toBe("to the edge's IP");
    expect(status).toBe(200);
  });

  it("a phone registered by IP (To: sip:USER@127.0.0.1) is the domain's USER: a MESSAGE to USER@example.com reaches it", async () => {
    await using bob = await TestUa.create({ transport: "tcp" });
    await using alice = await TestUa.create({ transport: "tcp" });
    const user = `ipphone-${randomToken(3)}`;
    const res = await register(bob, edge(), `sip:${user}@127.0.0.1`);
    // RFC 3261 §10.3 step 8: the 200 lists the binding (the AOR it went to is the domain's)
    expect(sipHeader(res, "contact")).toContain(`${user}@`);
    const { got, status } = await deliver(alice, bob, `sip:${user}@example.com`, "to the domain");
    expect(sipBody(got)).toBe("to the domain");
    expect(status).toBe(200);
  });

  it("an alias opens no relaying: a host that is neither a domain, an alias nor the edge is still 403 (RFC 3261 §26.3.2.1)", async () => {
    await using alice = await TestUa.create({ transport: "udp" });
    const res = await alice.request(messageText(alice, "alice", "sip:someone@other.example", "nobody"), edge(), 10_000);
    expect(res.split("\r\n")[0]).toMatch(/^SIP\/2\.0 403 /);
  });
});

describe("without EDGEPATH_DOMAIN_ALIASES", () => {
  const plain = embeddedForFile();
  it("a Request-URI naming the edge's address is looked up as that host's AOR and not served: 404 Domain Not Served Here", async () => {
    await using alice = await TestUa.create({ transport: "udp" });
    const res = await alice.request(messageText(alice, "alice", "sip:someone@127.0.0.1", "by IP"), plain.edge(), 10_000);
    expect(res.split("\r\n")[0]).toBe("SIP/2.0 404 Domain Not Served Here");
  });
});
