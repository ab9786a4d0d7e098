/**
 * RFC 4475 "SIP Torture Test Messages" and our own fixtures of the same categories.
 *
 * The RFC's messages live OUTSIDE the repository (`<repo>/../shared/corpus/rfc4475/`, with
 * MANIFEST.txt: file, section, title, class). When that folder exists every message in it runs;
 * when it is absent a single test checks that our own fixtures (src/fixtures/torture.ts) are there
 * and cover every category, so the suite never silently skips.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { parseMessage, SipParseError } from "./index.js";
import type { SipMessage } from "./index.js";
import { FIXTURES, type Category, type ValidExpect } from "./fixtures/torture.js";

function findRepoRoot(from: string): string {
  let dir = from;
  for (;;) {
    if (existsSync(join(dir, "pnpm-workspace.yaml"))) return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error(`no pnpm-workspace.yaml above ${from}`);
    dir = up;
  }
}

const REPO_ROOT = findRepoRoot(dirname(fileURLToPath(import.meta.url)));
const CORPUS = resolve(REPO_ROOT, "..", "shared", "corpus", "rfc4475");
const HAVE_CORPUS = existsSync(join(CORPUS, "MANIFEST.txt"));

function accessAll(m: SipMessage): void {
  // Every accessor a proxy or registrar uses must work (or throw our own error) on a parsed message;
  // first what the edge and the workers read from every request (CSeq, From, To, the Request-URI).
  if (m.kind === "request") m.requestUri();
  m.cseq();
  m.from();
  m.to();
  m.vias();
  m.topVia();
  m.maxForwards();
  m.routes();
  m.recordRoutes();
  m.contacts();
  m.fields.forEach((f) => f.value.length);
}

/**
 * The error an invalid message raises: from the parse, or with `onRead` from the first read of its
 * headers after a parse that succeeded (a header the parser does not validate, see InvalidExpect).
 */
function invalidError(r: ReturnType<typeof parseMessage>, onRead: boolean): SipParseError {
  if (!onRead) {
    expect(r.ok, "the parse should fail").toBe(false);
    if (r.ok) throw new Error("unreachable");
    expect(r.error).toBeInstanceOf(SipParseError);
    return r.error;
  }
  if (!r.ok) throw new Error(`expected the parse to succeed and a read to fail, got ${r.error.message}`);
  try {
    accessAll(r.message);
  } catch (e) {
    expect(e).toBeInstanceOf(SipParseError);
    return e as SipParseError;
  }
  throw new Error("expected reading the headers to fail");
}

function checkValid(m: SipMessage, e: ValidExpect): void {
  expect(m.kind).toBe(e.kind);
  if (e.method !== undefined) expect(m.kind === "request" ? m.method : undefined).toBe(e.method);
  if (e.status !== undefined) expect(m.kind === "response" ? m.status : undefined).toBe(e.status);
  if (e.callId !== undefined) expect(m.callId).toBe(e.callId);
  if (e.viaCount !== undefined) expect(m.vias()).toHaveLength(e.viaCount);
  if (e.contactCount !== undefined) {
    const c = m.contacts();
    expect(c === "*" ? -1 : c.length).toBe(e.contactCount);
  }
  if (e.ruriUser !== undefined || e.ruriHost !== undefined) {
    if (m.kind !== "request") throw new Error("R-URI expectation on a response");
    const u = m.requestUri();
    if (u.scheme === "tel") throw new Error("tel R-URI");
    if (e.ruriUser !== undefined) expect(u.user).toBe(e.ruriUser);
    if (e.ruriHost !== undefined) expect(u.host).toBe(e.ruriHost);
  }
  if (e.bodyLength !== undefined) expect(m.body.length).toBe(e.bodyLength);
  if (e.topViaHost !== undefined) expect(m.topVia().host).toBe(e.topViaHost);
  if (e.topViaPort !== undefined) expect(m.topVia().port).toBe(e.topViaPort);
  accessAll(m);
  // an untouched message serialises to exactly the bytes it was parsed from
  expect(m.toBuffer().equals(m.raw)).toBe(true);
}

// ---------------- our own fixtures (always run) ----------------

describe("own torture fixtures (RFC 4475 categories)", () => {
  for (const f of FIXTURES) {
    it(`${f.section}: ${f.category} ${f.name}`, () => {
      const r = parseMessage(f.bytes);
      if (f.expect.ok) {
        if (!r.ok) throw new Error(`expected to parse, got ${r.error.message}`);
        checkValid(r.message, f.expect.value);
      } else {
        const error = invalidError(r, f.expect.onRead === true);
        expect(error.sipStatus).toBe(f.expect.status);
        expect(error.code).toBe(f.expect.code);
        if (f.expect.header !== undefined) {
          expect(error.header).toBe(f.expect.header);
          expect(error.reason).toContain(f.expect.header);
        }
      }
    });
  }
});

// ---------------- the RFC 4475 corpus ----------------

/** What RFC 4475 says about each message, as our parser implements it. */
type CorpusExpect =
  | { ok: true; check?: (m: SipMessage) => void }
  | { ok: false; status: number; code?: string; header?: string; onRead?: true };

const req = (m: SipMessage): Extract<SipMessage, { kind: "request" }> => {
  if (m.kind !== "request") throw new Error("expected a request");
  return m;
};
const sipRuri = (m: SipMessage) => {
  const u = req(m).requestUri();
  if (u.scheme === "tel") throw new Error("expected a SIP R-URI");
  return u;
};
const contactUris = (m: SipMessage): string[] => {
  const c = m.contacts();
  return c === "*" ? ["*"] : c.map((x) => x.uri);
};

const CORPUS_EXPECT: Record<string, CorpusExpect> = {
  // §3.1.1 valid
  "wsinv.dat": {
    ok: true,
    check: (m) => {
      expect(req(m).method).toBe("INVITE");
      expect(m.callId).toBe("wsinv.ndaksdj@192.0.2.1");
      expect(m.cseq()).toEqual({ seq: 9, method: "INVITE" });
      expect(m.maxForwards()).toBe(68);
      expect(m.vias()).toHaveLength(3);
      expect(m.topVia().host).toBe("192.0.2.2");
      expect(m.topVia().branch).toBe("390skdjuw");
      expect(m.to().displayName).toBeUndefined();
      expect(m.toTag()).toBe("1918181833n");
      expect(m.from().displayName).toBe('J Rosenberg \\"');
      expect(m.fromTag()).toBe("98asjd8");
      expect(m.header("UnknownHeaderWithUnusualValue")).toBe(";;,,;;,;");
      expect(sipRuri(m).params.has("unknownparam")).toBe(true);
    },
  },
  "intmeth.dat": {
    ok: true,
    check: (m) => {
      expect(req(m).method).toBe("!interesting-Method0123456789_*+`.%indeed'~");
      const u = sipRuri(m);
      expect(u.user).toBe("1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*");
      expect(u.password).toBe("&it+has=1,weird!*pas$wo~d_too.(doesn't-it)");
      expect(u.host).toBe("example.com");
      expect(m.maxForwards()).toBe(255);
      expect(m.topVia().branch).toBe("z9hG4bK-.!%66*_+`'~");
      expect(m.callId).toBe("intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{");
    },
  },
  "esc01.dat": {
    ok: true,
    check: (m) => {
      const u = sipRuri(m);
      expect(u.user).toBe("sips:user@example.com");
      expect(u.host).toBe("example.net");
      expect(contactUris(m)).toEqual(["sip:cal%6Cer@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31"]);
    },
  },
  "escnull.dat": {
    ok: true,
    check: (m) => {
      expect(contactUris(m)).toEqual(["sip:%00@host5.example.com", "sip:%00%00@host5.example.com"]);
      expect(m.to().uri).toBe("sip:null-%00-null@example.com");
    },
  },
  "esc02.dat": {
    ok: true,
    check: (m) => {
      expect(req(m).method).toBe("RE%47IST%45R");
      expect(m.contacts()).toHaveLength(2);
    },
  },
  "lwsdisp.dat": { ok: true, check: (m) => expect(m.from().displayName).toBe("caller") },
  "longreq.dat": {
    ok: true,
    check: (m) => {
      expect(m.vias()).toHaveLength(34);
      expect(m.callId.length).toBeGreaterThan(100);
      expect(m.to().displayName?.length).toBeGreaterThan(100);
    },
  },
  "dblreq.dat": {
    ok: true,
    check: (m) => {
      expect(req(m).method).toBe("REGISTER");
      expect(m.body.length).toBe(0);
      // RFC 4475 §3.1.1.8: the trailing octets are not part of the message and never forwarded
      expect(m.toBuffer().includes("INVITE")).toBe(false);
    },
  },
  "semiuri.dat": { ok: true, check: (m) => expect(sipRuri(m).user).toBe("user;par=u@example.net") },
  "transports.dat": {
    ok: true,
    check: (m) => expect(m.vias().map((v) => v.transport)).toEqual(["UDP", "SCTP", "TLS", "UNKNOWN", "TCP"]),
  },
  "mpart01.dat": {
    ok: true,
    check: (m) => {
      expect(m.body.length).toBe(553);
      expect(m.contentType()).toContain("multipart/mixed");
    },
  },
  "unreason.dat": {
    ok: true,
    check: (m) => {
      if (m.kind !== "response") throw new Error("response expected");
      expect(m.status).toBe(200);
      expect(m.reason).toBe("= 2**3 * 5**2 но сто девяносто девять - простое");
    },
  },
  "noreason.dat": {
    ok: true,
    check: (m) => {
      if (m.kind !== "response") throw new Error("response expected");
      expect(m.status).toBe(100);
      expect(m.reason).toBe("");
    },
  },
  // §3.1.2 invalid
  "badinv01.dat": { ok: false, status: 400 },
  "clerr.dat": { ok: false, status: 400, code: "bad-content-length", header: "Content-Length" },
  "ncl.dat": { ok: false, status: 400, code: "bad-content-length", header: "Content-Length" },
  // 400 either way: "should respond with a 400 Bad Request due to the CSeq error"; our parser checks
  // Max-Forwards (300 > 255 here) when it parses and CSeq when it is read, so Max-Forwards is named
  "scalar02.dat": { ok: false, status: 400, code: "bad-header", header: "Max-Forwards" },
  "scalarlg.dat": { ok: false, status: 400, code: "bad-header", header: "CSeq", onRead: true },
  "quotbal.dat": { ok: false, status: 400, code: "bad-header", header: "To", onRead: true },
  "ltgtruri.dat": { ok: false, status: 400, code: "bad-uri", onRead: true },
  "lwsruri.dat": { ok: false, status: 400, code: "bad-start-line" },
  "lwsstart.dat": { ok: false, status: 400, code: "bad-start-line" },
  "trws.dat": { ok: false, status: 400, code: "bad-start-line" },
  "escruri.dat": { ok: false, status: 400, code: "bad-uri", onRead: true },
  // RFC 4475 §3.1.2.12: an element that does not care about Date may accept it
  "baddate.dat": { ok: true, check: (m) => expect(m.header("date")).toBe("Fri, 01 Jan 2010 16:00:00 EST") },
  // RFC 4475 §3.1.2.13: "reasonable for an element receiving this request to respond with a 400"; the
  // element that reads Contact (edge and registrar, every REGISTER) does, on reading it
  "regbadct.dat": { ok: false, status: 400, code: "bad-header", header: "Contact", onRead: true },
  "badaspec.dat": { ok: false, status: 400, code: "bad-header", onRead: true },
  "baddn.dat": { ok: false, status: 400, code: "bad-header", header: "From", onRead: true },
  "badvers.dat": { ok: false, status: 505, code: "bad-version" },
  "mismatch01.dat": { ok: false, status: 400, code: "bad-header", header: "CSeq", onRead: true },
  "mismatch02.dat": { ok: false, status: 400, code: "bad-header", header: "CSeq", onRead: true },
  "bigcode.dat": { ok: false, status: 400, code: "bad-start-line" },
  // §3.2 transaction layer: parses; the branch is the bare magic cookie
  "badbranch.dat": { ok: true, check: (m) => expect(m.topVia().branch).toBe("z9hG4bK") },
  // §3.3 application layer
  "insuf.dat": { ok: false, status: 400, code: "missing-header" },
  "unkscm.dat": { ok: false, status: 416, code: "unsupported-uri-scheme", onRead: true },
  "novelsc.dat": { ok: false, status: 416, code: "unsupported-uri-scheme", onRead: true },
  "unksm2.dat": {
    ok: true,
    check: (m) => {
      expect(m.to().uri).toBe("isbn:2983792873");
      expect(m.from().uri).toBe("http://www.example.com");
      expect(contactUris(m)).toEqual(["name:John_Smith"]);
    },
  },
  "bext01.dat": {
    ok: true,
    check: (m) => {
      expect(m.require()).toEqual(["nothingsupportsthis", "nothingsupportsthiseither"]);
      expect(m.proxyRequire()).toEqual(["noproxiessupportthis", "nordoanyproxiessupportthis"]);
    },
  },
  "invut.dat": { ok: true, check: (m) => expect(m.contentType()).toBe("application/unknownformat") },
  "regaut01.dat": {
    ok: true,
    check: (m) => {
      const a = m.authorization();
      expect(a?.scheme).toBe("NoOneKnowsThisScheme");
      expect(a?.params.get("opaque-data")).toBe("here");
    },
  },
  "multi01.dat": { ok: false, status: 400, code: "bad-header" },
  "mcl01.dat": { ok: false, status: 400, header: "Content-Length" },
  "bcast.dat": { ok: true, check: (m) => expect(m.vias()[1]?.host).toBe("255.255.255.255") },
  "zeromf.dat": { ok: true, check: (m) => expect(m.maxForwards()).toBe(0) },
  "cparam01.dat": {
    ok: true,
    check: (m) => {
      const c = m.contacts();
      if (c === "*") throw new Error("not *");
      expect(c[0]?.uri).toBe("sip:+19725552222@gw1.example.net");
      expect(c[0]?.params.has("unknownparam")).toBe(true);
    },
  },
  "cparam02.dat": {
    ok: true,
    check: (m) => {
      const c = m.contacts();
      if (c === "*") throw new Error("not *");
      expect(c[0]?.uri).toBe("sip:+19725552222@gw1.example.net;unknownparam");
      expect(c[0]?.params.has("unknownparam")).toBe(false);
    },
  },
  "regescrt.dat": { ok: true, check: (m) => expect(contactUris(m)).toEqual(["sip:user@example.com?Route=%3Csip:sip.example.com%3E"]) },
  "sdp01.dat": { ok: true, check: (m) => expect(m.header("accept")).toBe("text/nobodyKnowsThis") },
  // §3.4 RFC 2543 syntax: no branch, no From tag, no Content-Length, no Max-Forwards
  "inv2543.dat": {
    ok: true,
    check: (m) => {
      expect(m.topVia().branch).toBeUndefined();
      expect(m.fromTag()).toBeUndefined();
      expect(m.maxForwards()).toBeUndefined();
      expect(m.contentLength()).toBeUndefined();
      expect(m.body.length).toBeGreaterThan(0);
    },
  },
  // in the RFC's archive but not in its text: no SIP-Version, a header line without ':'
  "test.dat": { ok: false, status: 400 },
};

interface ManifestEntry {
  file: string;
  section: string;
  title: string;
  cls: string;
}

function readManifest(): ManifestEntry[] {
  const out: ManifestEntry[] = [];
  for (const line of readFileSync(join(CORPUS, "MANIFEST.txt"), "utf8").split(/\r?\n/)) {
    if (line.length === 0 || line.startsWith("#")) continue;
    const [file, section, title, cls] = line.split("\t");
    if (file === undefined || section === undefined || title === undefined || cls === undefined) continue;
    out.push({ file, section, title, cls });
  }
  return out;
}

if (HAVE_CORPUS) {
  describe(`RFC 4475 corpus (${CORPUS})`, () => {
    const manifest = readManifest();

    it("MANIFEST lists every .dat file in the folder, and we expect something of each", () => {
      const listed = new Set(manifest.map((e) => e.file));
      const onDisk = readdirSync(CORPUS).filter((f) => f.endsWith(".dat"));
      expect(onDisk.length).toBeGreaterThan(0);
      for (const f of onDisk) expect(listed.has(f), `${f} not in MANIFEST`).toBe(true);
      for (const e of manifest) expect(CORPUS_EXPECT[e.file], `no expectation for ${e.file}`).toBeDefined();
    });

    for (const e of manifest) {
      const path = join(CORPUS, e.file);
      it(`RFC 4475 §${e.section} ${e.file} (${e.cls}): ${e.title}`, () => {
        if (!existsSync(path)) throw new Error(`${e.file} listed in MANIFEST but missing`);
        const exp = CORPUS_EXPECT[e.file];
        if (exp === undefined) throw new Error(`no expectation for ${e.file}`);
        const r = parseMessage(readFileSync(path));
        if (exp.ok) {
          if (!r.ok) throw new Error(`expected ${e.file} to parse, got ${r.error.message}`);
          exp.check?.(r.message);
          accessAll(r.message);
          expect(r.message.toBuffer().equals(r.message.raw)).toBe(true);
        } else {
          const error = invalidError(r, exp.onRead === true);
          expect(error.sipStatus).toBe(exp.status);
          if (exp.code !== undefined) expect(error.code).toBe(exp.code);
          if (exp.header !== undefined) {
            expect(error.header).toBe(exp.header);
            expect(error.reason).toContain(exp.header);
          }
        }
      });
    }
  });
} else {
  describe("RFC 4475 corpus absent", () => {
    it(`own fixtures stand in for ${CORPUS}: every RFC 4475 category is covered`, () => {
      const cats = new Set<Category>(FIXTURES.map((f) => f.category));
      for (const c of ["valid", "invalid", "escaping", "transaction-layer", "application-layer", "backward-compat", "ipv6"] as const) {
        expect(cats.has(c), `no fixture for ${c}`).toBe(true);
      }
      expect(FIXTURES.filter((f) => f.expect.ok).length).toBeGreaterThanOrEqual(10);
      expect(FIXTURES.filter((f) => !f.expect.ok).length).toBeGreaterThanOrEqual(10);
    });
  });
}
