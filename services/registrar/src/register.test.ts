import { describe, expect, it, vi } from "vitest";
import { MemoryBindingStore } from "@edgepath/bindings";
import type { BindingStore, RegisterOp, RegisterResult } from "@edgepath/bindings";
import { FlowTokenCodec } from "@edgepath/flow-token";
import { buildResponse, parseSipUri, ServedDomains } from "@edgepath/sip";
import { contactKey, handleRegister } from "./register.js";
import type { RegisterContext, RegistrarSettings } from "./register.js";
import { parseRequest, parseResponse, sipText } from "./test-support.js";

const codec = new FlowTokenCodec("test-cluster-secret");
const token = codec.encode({
  transport: "tcp",
  localAddress: "203.0.113.1",
  localPort: 5060,
  remoteAddress: "198.51.100.7",
  remotePort: 40000,
  connectionId: 7,
});
const EDGE_PATH = `<sip:${token}@10.0.0.1:5070;lr;ob>`;
const EDGE_PATH_NO_OB = `<sip:${token}@10.0.0.1:5070;lr>`;
const T0 = Date.UTC(2024, 0, 2, 3, 4, 5);
const SETTINGS: RegistrarSettings = { defaultExpires: 3600, minExpires: 60, maxExpires: 7200, maxContacts: 5 };

interface RegOpts {
  ruri?: string;
  to?: string;
  callId?: string;
  cseq?: number;
  contacts?: string[];
  expires?: string;
  path?: string[];
  supported?: string;
  require?: string;
  vias?: number;
  extra?: string[];
}

function registerText(o: RegOpts = {}): Buffer {
  const h: string[] = [];
  if ((o.vias ?? 2) >= 2) h.push("Via: SIP/2.0/UDP 10.0.0.1:5070;branch=z9hG4bKedge1");
  h.push("Via: SIP/2.0/TCP 198.51.100.7:40000;branch=z9hG4bKua1;received=198.51.100.7;rport=40000");
  h.push("Max-Forwards: 69");
  for (const p of o.path ?? [EDGE_PATH]) h.push(`Path: ${p}`);
  h.push(`To: <${o.to ?? "sip:alice@example.com"}>`);
  h.push("From: <sip:alice@example.com>;tag=f1");
  h.push(`Call-ID: ${o.callId ?? "call-1"}`);
  h.push(`CSeq: ${o.cseq ?? 1} REGISTER`);
  for (const c of o.contacts ?? ["<sip:alice@198.51.100.7:40000;transport=tcp>"]) h.push(`Contact: ${c}`);
  if (o.expires !== undefined) h.push(`Expires: ${o.expires}`);
  if (o.supported !== undefined) h.push(`Supported: ${o.supported}`);
  if (o.require !== undefined) h.push(`Require: ${o.require}`);
  h.push("User-Agent: TestPhone/1.0");
  h.push(...(o.extra ?? []));
  return sipText(`REGISTER ${o.ruri ?? "sip:example.com"} SIP/2.0`, h);
}

function register(o: RegOpts = {}) {
  return parseRequest(registerText(o));
}

function ctx(store: BindingStore, over: Partial<RegisterContext> = {}): RegisterContext {
  return { domains: new ServedDomains(["example.com"]), store, now: T0, settings: SETTINGS, flowTokens: codec, ...over };
}

async function run(o: RegOpts, store: BindingStore, over: Partial<RegisterContext> = {}) {
  const r = await handleRegister(register(o), ctx(store, over));
  return { ...r, res: parseResponse(r.response) };
}

describe("handleRegister", () => {
  it("RFC 3261 §10.3 step 8: 200 lists the contact with expires, a Date and a To tag; binding stored with Path and flow", async () => {
    const store = new MemoryBindingStore();
    const { res, outcome } = await run({}, store);
    expect(res.status).toBe(200);
    expect(res.headerValues("contact")).toEqual(["<sip:alice@198.51.100.7:40000;transport=tcp>;expires=3600"]);
    expect(res.header("date")).toBe("Tue, 02 Jan 2024 03:04:05 GMT");
    expect(res.toTag()).toBeTruthy();
    expect(res.header("call-id")).toBe("call-1");
    expect(outcome).toMatchObject({ result: "ok", aor: "sip:alice@example.com", changed: true, contacts: 1 });
    const { bindings } = await store.lookup("sip:alice@example.com", T0);
    expect(bindings).toHaveLength(1);
    expect(bindings[0]).toMatchObject({
      contact: "sip:alice@198.51.100.7:40000;transport=tcp",
      path: [EDGE_PATH],
      edge: "10.0.0.1:5070",
      flowToken: token,
      transport: "tcp",
      source: "198.51.100.7:40000",
      userAgent: "TestPhone/1.0",
      callId: "call-1",
      cseq: 1,
      expiresAt: T0 + 3600_000,
    });
  });

  it("RFC 3261 §10.3 step 1: Request-URI domain not served -> 404, nothing stored", async () => {
    const store = new MemoryBindingStore();
    const { res, outcome } = await run({ ruri: "sip:other.org", to: "sip:alice@other.org" }, store);
    expect(res.status).toBe(404);
    expect(res.reason).toBe("Domain Not Served Here");
    expect(outcome).toMatchObject({ result: "rejected", step: "domain" });
    expect((await store.lookup("sip:alice@other.org", T0)).bindings).toHaveLength(0);
  });

  it("RFC 3261 §10.3 step 2: an unsupported Require option tag -> 420 with Unsupported listing it", async () => {
    const { res } = await run({ require: "path, gruu" }, new MemoryBindingStore());
    expect(res.status).toBe(420);
    expect(res.unsupported()).toEqual(["gruu"]);
  });

  it("RFC 3261 §10.3 step 2: Require: path, outbound is supported", async () => {
    const { res } = await run({ require: "path, outbound" }, new MemoryBindingStore());
    expect(res.status).toBe(200);
  });

  it("RFC 3261 §10.3 step 3: the authorize hook's challenge is sent and nothing is stored", async () => {
    const store = new MemoryBindingStore();
    const authorize = vi.fn((req: Parameters<NonNullable<RegisterContext["authorize"]>>[0]) =>
      Promise.resolve<Buffer | undefined>(
        buildResponse(req, 401, "Unauthorized", { toTag: "x", headers: [["WWW-Authenticate", 'Digest realm="example.com", nonce="n"']] }),
      ),
    );
    const { res, outcome } = await run({}, store, { authorize });
    expect(authorize).toHaveBeenCalledOnce();
    expect(res.status).toBe(401);
    expect(outcome).toMatchObject({ result: "rejected", status: 401, step: "auth" });
    expect((await store.lookup("sip:alice@example.com", T0)).bindings).toHaveLength(0);
  });

  it("RFC 3261 §10.3 step 5: a To AOR not valid for our domain -> 404", async () => {
    const { res, outcome } = await run({ to: "sip:alice@other.org" }, new MemoryBindingStore());
    expect(res.status).toBe(404);
    expect(outcome).toMatchObject({ step: "aor" });
  });

  it("RFC 3261 §10.3 step 5: a To URI without a user part -> 404", async () => {
    const { res } = await run({ to: "sip:example.com" }, new MemoryBindingStore());
    expect(res.status).toBe(404);
  });

  it("RFC 3261 §10.3 step 5: the AOR is canonical (sips, port, params, host case folded)", async () => {
    const store = new MemoryBindingStore();
    const { outcome } = await run({ to: "sips:alice@EXAMPLE.com:5061;transport=tls" }, store);
    expect(outcome).toMatchObject({ result: "ok", aor: "sip:alice@example.com" });
  });

  it("RFC 3261 §10.3 step 6: Contact * with Expires: 0 removes every binding", async () => {
    const store = new MemoryBindingStore();
    await run({ contacts: ["<sip:a@192.0.2.1>", "<sip:b@192.0.2.2>"] }, store);
    const { res, outcome } = await run({ contacts: ["*"], expires: "0", callId: "other", cseq: 1 }, store);
    expect(res.status).toBe(200);
    expect(res.headerValues("contact")).toEqual([]);
    expect(outcome).toMatchObject({ result: "ok", removedAll: true, contacts: 0 });
    expect((await store.lookup("sip:alice@example.com", T0)).bindings).toHaveLength(0);
  });

  it("RFC 3261 §10.3 step 6: Contact * without Expires -> 400", async () => {
    const { res } = await run({ contacts: ["*"] }, new MemoryBindingStore());
    expect(res.status).toBe(400);
    expect(res.reason).toMatch(/Expires: 0/);
  });

  it("RFC 3261 §10.3 step 6: Contact * with a non-zero Expires -> 400", async () => {
    const { res } = await run({ contacts: ["*"], expires: "3600" }, new MemoryBindingStore());
    expect(res.status).toBe(400);
  });

  it("RFC 3261 §10.3 step 6: Contact * alongside another Contact -> 400 naming Contact, nothing changed", async () => {
    // The parser leaves Contact to its first read (RFC 3261 §16.3 step 1); handleRegister reads it
    // at step 6 and answers the SipParseError the accessor throws.
    const store = new MemoryBindingStore();
    await run({ contacts: ["<sip:a@192.0.2.1>"] }, store);
    const { res, outcome } = await run({ contacts: ["*", "<sip:b@192.0.2.2>"], expires: "0", cseq: 2 }, store);
    expect(res.status).toBe(400);
    expect(res.reason).toBe("Bad Header: Contact");
    expect(outcome).toMatchObject({ step: "contact" });
    const after = await run({ contacts: [], cseq: 3 }, store);
    expect(after.res.headerValues("contact")).toEqual(["<sip:a@192.0.2.1>;expires=3600"]);
  });

  it("RFC 3261 §10.3 step 6: Contact * with an older CSeq of the same Call-ID -> 500, bindings kept", async () => {
    const store = new MemoryBindingStore();
    await run({ cseq: 5 }, store);
    const { res } = await run({ contacts: ["*"], expires: "0", cseq: 4 }, store);
    expect(res.status).toBe(500);
    expect((await store.lookup("sip:alice@example.com", T0)).bindings).toHaveLength(1);
  });

  it("RFC 3261 §10.3 step 7: the Contact expires parameter wins over the Expires header", async () => {
    const { res } = await run({ contacts: ["<sip:a@192.0.2.1>;expires=120"], expires: "600" }, new MemoryBindingStore());
    expect(res.headerValues("contact")).toEqual(["<sip:a@192.0.2.1>;expires=120"]);
  });

  it("RFC 3261 §10.3 step 7: the Expires header applies when the Contact has no expires", async () => {
    const { res } = await run({ contacts: ["<sip:a@192.0.2.1>"], expires: "600" }, new MemoryBindingStore());
    expect(res.headerValues("contact")).toEqual(["<sip:a@192.0.2.1>;expires=600"]);
  });

  it("RFC 3261 §10.3 step 7: the configured default applies when neither is present", async () => {
    const { res } = await run({ contacts: ["<sip:a@192.0.2.1>"] }, new MemoryBindingStore(), {
      settings: { ...SETTINGS, defaultExpires: 1800 },
    });
    expect(res.headerValues("contact")).toEqual(["<sip:a@192.0.2.1>;expires=1800"]);
  });

  it("RFC 3261 §10.3 step 7: a longer request is shortened to maxExpires", async () => {
    const { res } = await run({ contacts: ["<sip:a@192.0.2.1>;expires=999999"] }, new MemoryBindingStore());
    expect(res.headerValues("contact")).toEqual(["<sip:a@192.0.2.1>;expires=7200"]);
  });

  it("RFC 3261 §10.3 step 7 / §21.4.17: an interval below the minimum -> 423 with Min-Expires, nothing stored", async () => {
    const store = new MemoryBindingStore();
    const { res, outcome } = await run({ contacts: ["<sip:a@192.0.2.1>;expires=30"] }, store);
    expect(res.status).toBe(423);
    expect(res.reason).toBe("Interval Too Brief");
    expect(res.minExpires()).toBe(60);
    expect(outcome).toMatchObject({ step: "expires" });
    expect((await store.lookup("sip:alice@example.com", T0)).bindings).toHaveLength(0);
  });

  it("RFC 3261 §10.3 step 7: 423 only for intervals under one hour even if the minimum is higher", async () => {
    const { res } = await run({ contacts: ["<sip:a@192.0.2.1>;expires=3600"] }, new MemoryBindingStore(), {
      settings: { ...SETTINGS, minExpires: 7200, maxExpires: 86400 },
    });
    expect(res.status).toBe(200);
  });

  it("RFC 3261 §10.3 step 7: expires=0 removes that binding only", async () => {
    const store = new MemoryBindingStore();
    await run({ contacts: ["<sip:a@192.0.2.1>", "<sip:b@192.0.2.2>"] }, store);
    const { res } = await run({ contacts: ["<sip:a@192.0.2.1>;expires=0"], cseq: 2 }, store);
    expect(res.status).toBe(200);
    expect(res.headerValues("contact")).toEqual(["<sip:b@192.0.2.2>;expires=3600"]);
  });

  it("RFC 3261 §10.3 step 7: same Call-ID with a lower CSeq -> 500 saying out of order", async () => {
    const store = new MemoryBindingStore();
    await run({ cseq: 10 }, store);
    const { res, outcome } = await run({ cseq: 9, contacts: ["<sip:alice@198.51.100.7:40000;transport=tcp>;expires=60"] }, store);
    expect(res.status).toBe(500);
    expect(res.reason).toMatch(/Out Of Order/i);
    expect(outcome).toMatchObject({ step: "store" });
    const { bindings } = await store.lookup("sip:alice@example.com", T0);
    expect(bindings[0]?.expiresAt).toBe(T0 + 3600_000);
  });

  it("RFC 3261 §17.2.3 across workers: the same REGISTER (Call-ID, CSeq) again is answered 200 with the bindings, nothing rewritten", async () => {
    const store = new MemoryBindingStore();
    await run({ cseq: 10 }, store);
    const { res, outcome } = await run({ cseq: 10 }, store);
    expect(res.status).toBe(200);
    expect(outcome).toMatchObject({ result: "ok", changed: false });
    expect(res.headerValues("contact")).toHaveLength(1);
    const { bindings } = await store.lookup("sip:alice@example.com", T0);
    expect(bindings[0]?.expiresAt).toBe(T0 + 3600_000);
  });

  it("RFC 3261 §10.3 step 7: ordering is per binding: an old CSeq of the same Call-ID may add a contact it does not touch", async () => {
    const store = new MemoryBindingStore();
    await run({ cseq: 10, contacts: ["<sip:a@192.0.2.1>"] }, store);
    // Same Call-ID, lower CSeq, but only for a new address: no stored binding is compared.
    const ok = await run({ cseq: 3, contacts: ["<sip:b@192.0.2.2>"] }, store);
    expect(ok.res.status).toBe(200);
    expect(ok.res.headerValues("contact")).toHaveLength(2);
    // The same request touching the first binding too fails as a whole (§10.3 step 7: atomic).
    const bad = await run({ cseq: 4, contacts: ["<sip:c@192.0.2.3>", "<sip:a@192.0.2.1>;expires=0"] }, store);
    expect(bad.res.status).toBe(500);
    const { bindings } = await store.lookup("sip:alice@example.com", T0);
    expect(bindings.map((b) => b.contact).sort()).toEqual(["sip:a@192.0.2.1", "sip:b@192.0.2.2"]);
  });

  it("RFC 3261 §10.3 step 6: Contact * with a higher CSeq of the same Call-ID removes bindings of other Call-IDs too", async () => {
    const store = new MemoryBindingStore();
    await run({ cseq: 5, contacts: ["<sip:a@192.0.2.1>"] }, store);
    await run({ cseq: 1, callId: "other-phone", contacts: ["<sip:b@192.0.2.2>"] }, store);
    const { res } = await run({ cseq: 6, contacts: ["*"], expires: "0" }, store);
    expect(res.status).toBe(200);
    expect(res.headerValues("contact")).toEqual([]);
    expect((await store.lookup("sip:alice@example.com", T0)).bindings).toEqual([]);
  });

  it("RFC 3261 §10.3 step 7: a different Call-ID updates the binding regardless of CSeq", async () => {
    const store = new MemoryBindingStore();
    await run({ cseq: 10 }, store);
    const { res } = await run({ cseq: 1, callId: "call-2", contacts: ["<sip:alice@198.51.100.7:40000;transport=tcp>;expires=60"] }, store);
    expect(res.status).toBe(200);
    expect(res.headerValues("contact")).toEqual(["<sip:alice@198.51.100.7:40000;transport=tcp>;expires=60"]);
  });

  it("RFC 3261 §10.3 step 7 + §19.1.4: a refresh with a differently cased host and extra parameter is the same binding", async () => {
    const store = new MemoryBindingStore();
    await run({ contacts: ["<sip:alice@HOST.example.net;transport=TCP>"] }, store);
    const { res } = await run({ contacts: ["<sip:alice@host.example.net;transport=tcp;rinstance=9>"], cseq: 2 }, store);
    expect(res.headerValues("contact")).toHaveLength(1);
  });

  it("RFC 3261 §10.3 step 8: expires in the 200 are the remaining seconds of each binding", async () => {
    const store = new MemoryBindingStore();
    await run({ contacts: ["<sip:a@192.0.2.1>"] }, store);
    const { res } = await run({ contacts: ["<sip:b@192.0.2.2>;expires=600"], callId: "c2" }, store, { now: T0 + 100_000 });
    expect(res.headerValues("contact").sort()).toEqual(["<sip:a@192.0.2.1>;expires=3500", "<sip:b@192.0.2.2>;expires=600"]);
  });

  it("RFC 3261 §10.2.3: a REGISTER without Contact is a query listing current bindings", async () => {
    const store = new MemoryBindingStore();
    await run({ contacts: ["<sip:a@192.0.2.1>;q=0.5"] }, store);
    const { res, outcome } = await run({ contacts: [], cseq: 2 }, store);
    expect(res.status).toBe(200);
    expect(res.headerValues("contact")).toEqual(["<sip:a@192.0.2.1>;expires=3600;q=0.5"]);
    expect(outcome).toMatchObject({ result: "ok", query: true, changed: false });
  });

  it("RFC 3261 §20.19: a malformed Expires header -> 400 naming Expires", async () => {
    const { res } = await run({ expires: "soon" }, new MemoryBindingStore());
    expect(res.status).toBe(400);
    expect(res.reason).toMatch(/Expires/);
  });

  it("RFC 3261 §20.10: a Contact that is not a SIP URI -> 400 naming Contact", async () => {
    const { res, outcome } = await run({ contacts: ["<mailto:alice@example.com>"] }, new MemoryBindingStore());
    expect(res.status).toBe(400);
    expect(res.reason).toBe("Bad Header: Contact");
    expect(outcome).toMatchObject({ step: "contact" });
  });

  it("a binding limit exceeded -> 403 Too Many Contacts", async () => {
    const store = new MemoryBindingStore();
    const contacts = ["<sip:a@192.0.2.1>", "<sip:b@192.0.2.2>", "<sip:c@192.0.2.3>"];
    const { res } = await run({ contacts }, store, { settings: { ...SETTINGS, maxContacts: 2 } });
    expect(res.status).toBe(403);
    expect(res.reason).toBe("Too Many Contacts");
  });

  it("a store that is unavailable -> 503 with Retry-After", async () => {
    class DownStore extends MemoryBindingStore {
      override register(_op: RegisterOp): Promise<RegisterResult> {
        return Promise.resolve({ ok: false, code: "unavailable", status: 503, reason: "redis down", retryAfter: 7 });
      }
    }
    const down = new DownStore();
    const { res, outcome } = await run({}, down);
    expect(res.status).toBe(503);
    expect(res.header("retry-after")).toBe("7");
    expect(outcome).toMatchObject({ step: "store", detail: "redis down" });
  });

  it("RFC 3261 §10.3 step 7: a store that throws -> 500 (the commit failed)", async () => {
    const broken = { register: () => Promise.reject(new Error("boom")) } as unknown as BindingStore;
    const { res } = await run({}, broken);
    expect(res.status).toBe(500);
  });

  it("RFC 3327 §5.3: Path is echoed in the 200 when the UA sent Supported: path", async () => {
    const proxy2 = "<sip:p2.example.net;lr>";
    const { res } = await run({ supported: "path, outbound", path: [EDGE_PATH, proxy2] }, new MemoryBindingStore());
    expect(res.headerValues("path")).toEqual([EDGE_PATH, proxy2]);
  });

  it("RFC 3327 §5.3: Path is NOT echoed when the UA did not send Supported: path", async () => {
    const store = new MemoryBindingStore();
    const { res } = await run({ supported: "outbound" }, store);
    expect(res.hasHeader("path")).toBe(false);
    // ...but it is still stored with the binding.
    expect((await store.lookup("sip:alice@example.com", T0)).bindings[0]?.path).toEqual([EDGE_PATH]);
  });

  it("RFC 3327 §5.3: the whole Path vector is stored top first", async () => {
    const store = new MemoryBindingStore();
    await run({ path: [EDGE_PATH, "<sip:p2.example.net;lr>"] }, store);
    expect((await store.lookup("sip:alice@example.com", T0)).bindings[0]?.path).toEqual([EDGE_PATH, "<sip:p2.example.net;lr>"]);
  });

  const INSTANCE = "urn:uuid:00000000-0000-1000-8000-000A95A0E128";
  const obContact = (uri: string, regId = 1) => `<${uri}>;+sip.instance="<${INSTANCE}>";reg-id=${regId}`;

  it("RFC 5626 §6: instance + reg-id replaces the binding of that flow and the 200 has Require: outbound", async () => {
    const store = new MemoryBindingStore();
    const first = await run({ contacts: [obContact("sip:alice@198.51.100.7:40000;transport=tcp")], supported: "path, outbound" }, store);
    expect(first.res.status).toBe(200);
    expect(first.res.require()).toEqual(["outbound"]);
    expect(first.outcome).toMatchObject({ outbound: true });
    const second = await run(
      { contacts: [obContact("sip:alice@198.51.100.7:40001;transport=tcp")], callId: "call-after-reboot", supported: "path, outbound" },
      store,
    );
    expect(second.res.headerValues("contact")).toEqual([
      `<sip:alice@198.51.100.7:40001;transport=tcp>;expires=3600;+sip.instance="<${INSTANCE}>";reg-id=1`,
    ]);
    const { bindings } = await store.lookup("sip:alice@example.com", T0);
    expect(bindings).toHaveLength(1);
    expect(bindings[0]).toMatchObject({ key: `${INSTANCE};reg-id=1`, instance: INSTANCE, regId: 1 });
  });

  it("RFC 5626 §6: a second reg-id of the same instance is a second binding (two flows)", async () => {
    const store = new MemoryBindingStore();
    await run({ contacts: [obContact("sip:alice@198.51.100.7:40000;transport=tcp", 1)] }, store);
    const { res } = await run({ contacts: [obContact("sip:alice@198.51.100.7:40002;transport=tcp", 2)], callId: "call-2" }, store);
    expect(res.headerValues("contact")).toHaveLength(2);
  });

  it("RFC 5626 §6: reg-id without ob on the first Path URI and Supported: outbound -> 439", async () => {
    const { res, outcome } = await run(
      { contacts: [obContact("sip:alice@192.0.2.1")], path: [EDGE_PATH_NO_OB], supported: "path, outbound" },
      new MemoryBindingStore(),
    );
    expect(res.status).toBe(439);
    expect(outcome).toMatchObject({ step: "outbound" });
  });

  it("RFC 5626 §6: reg-id without ob and without Supported: outbound is ignored (instance-keyed binding, no Require)", async () => {
    const store = new MemoryBindingStore();
    const { res } = await run({ contacts: [obContact("sip:alice@192.0.2.1")], path: [EDGE_PATH_NO_OB] }, store);
    expect(res.status).toBe(200);
    expect(res.require()).toEqual([]);
    expect(res.headerValues("contact")).toEqual([`<sip:alice@192.0.2.1>;expires=3600;+sip.instance="<${INSTANCE}>"`]);
    expect((await store.lookup("sip:alice@example.com", T0)).bindings[0]?.key).toBe(`inst:${INSTANCE}`);
  });

  it("RFC 5626 §6: reg-id without +sip.instance is ignored: an RFC 3261 binding keyed by the Contact URI, no Require", async () => {
    const store = new MemoryBindingStore();
    const { res, outcome } = await run({ contacts: ["<sip:alice@192.0.2.1>;reg-id=1"], supported: "path, outbound" }, store);
    expect(res.status).toBe(200);
    expect(outcome).toMatchObject({ outbound: false });
    expect(res.require()).toEqual([]);
    expect(res.headerValues("contact")).toEqual(["<sip:alice@192.0.2.1>;expires=3600"]);
    const b = (await store.lookup("sip:alice@example.com", T0)).bindings[0];
    expect(b?.key).toBe("sip:alice@192.0.2.1");
    expect(b?.regId).toBeUndefined();
  });

  it("RFC 5626 §6: reg-id without +sip.instance does not trigger 439 even with Supported: outbound and no ob", async () => {
    const { res } = await run(
      { contacts: ["<sip:alice@192.0.2.1>;reg-id=1"], path: [EDGE_PATH_NO_OB], supported: "path, outbound" },
      new MemoryBindingStore(),
    );
    expect(res.status).toBe(200);
  });

  it("RFC 5626 §6: Require: outbound through a first hop without ob (Path lacks ob) -> 439, nothing stored", async () => {
    const store = new MemoryBindingStore();
    const { res, outcome } = await run({ contacts: [obContact("sip:alice@192.0.2.1")], path: [EDGE_PATH_NO_OB], require: "outbound" }, store);
    expect(res.status).toBe(439);
    expect(res.reason).toBe("First Hop Lacks Outbound Support");
    expect(outcome).toMatchObject({ step: "outbound" });
    expect((await store.lookup("sip:alice@example.com", T0)).bindings).toEqual([]);
  });

  it("RFC 5626 §6: Require: outbound with no Path at all (no outbound first hop) -> 439", async () => {
    const { res } = await run({ contacts: [obContact("sip:alice@192.0.2.1")], path: [], require: "outbound" }, new MemoryBindingStore());
    expect(res.status).toBe(439);
  });

  it("RFC 5626 §6: Require: outbound through an ob first hop is honoured (Require: outbound in the 200)", async () => {
    const { res } = await run({ contacts: [obContact("sip:alice@192.0.2.1")], require: "outbound" }, new MemoryBindingStore());
    expect(res.status).toBe(200);
    expect(res.require()).toEqual(["outbound"]);
  });

  it("RFC 5626 §4.2.1: two Contacts with the same +sip.instance and reg-id in one REGISTER -> 400", async () => {
    const { res } = await run(
      { contacts: [obContact("sip:alice@192.0.2.1"), obContact("sip:alice@192.0.2.2")], supported: "path, outbound" },
      new MemoryBindingStore(),
    );
    expect(res.status).toBe(400);
  });

  it("RFC 5626 §6: a REGISTER with a single Via and no Path gets no outbound processing", async () => {
    const { res } = await run({ contacts: [obContact("sip:alice@192.0.2.1")], vias: 1, path: [] }, new MemoryBindingStore());
    expect(res.status).toBe(200);
    expect(res.require()).toEqual([]);
  });

  it("a Path whose user part is not a valid flow token stores the edge but no flow", async () => {
    const store = new MemoryBindingStore();
    await run({ path: ["<sip:forged@10.0.0.9;lr;ob>"] }, store);
    const b = (await store.lookup("sip:alice@example.com", T0)).bindings[0];
    expect(b?.edge).toBe("10.0.0.9:5060");
    expect(b?.flowToken).toBeUndefined();
  });
});

describe("contactKey (RFC 3261 §19.1.4)", () => {
  const k = (s: string) => contactKey(parseSipUri(s));
  it("RFC 3261 §19.1.4: host compares case-insensitively, user case-sensitively", () => {
    expect(k("sip:alice@EXAMPLE.com")).toBe(k("sip:alice@example.com"));
    expect(k("sip:Alice@example.com")).not.toBe(k("sip:alice@example.com"));
  });
  it("RFC 3261 §19.1.4: an explicit default port is not the same as none", () => {
    expect(k("sip:a@example.com:5060")).not.toBe(k("sip:a@example.com"));
  });
  it("RFC 3261 §19.1.4: transport must match when either side has it; other params do not count", () => {
    expect(k("sip:a@example.com;transport=tcp")).not.toBe(k("sip:a@example.com"));
    expect(k("sip:a@example.com;transport=TCP;foo=1")).toBe(k("sip:a@example.com;transport=tcp"));
  });
});
