import { describe, expect, it } from "vitest";
import { AorRing } from "./ring.js";
import type { RingMember } from "./ring.js";

const W: RingMember[] = [
  { id: "worker-a", sipAddress: "10.0.0.1:5070" },
  { id: "worker-b", sipAddress: "10.0.0.2:5070" },
  { id: "worker-c", sipAddress: "10.0.0.3:5070" },
];
const D: RingMember = { id: "worker-d", sipAddress: "10.0.0.4:5070" };
const AORS = Array.from({ length: 10_000 }, (_, i) => `sip:user${i}@example.com`);

function owners(ring: AorRing): Map<string, string | undefined> {
  return new Map(AORS.map((a) => [a, ring.ownerOf(a)?.id]));
}

function ringOf(members: RingMember[], opts?: ConstructorParameters<typeof AorRing>[0]): AorRing {
  const r = new AorRing(opts);
  r.setMembers(members);
  return r;
}

describe("AorRing", () => {
  it("empty ring owns nothing", () => {
    const r = new AorRing();
    expect(r.ownerOf("sip:alice@example.com")).toBeUndefined();
    expect(r.size).toBe(0);
    expect(r.version).toBe(0);
    r.setMembers(W);
    r.setMembers([]);
    expect(r.ownerOf("sip:alice@example.com")).toBeUndefined();
    expect(r.members()).toEqual([]);
  });

  it("is deterministic across instances and member order", () => {
    const a = owners(ringOf(W));
    const b = owners(ringOf([W[2]!, W[0]!, W[1]!]));
    const c = owners(ringOf([W[1]!, W[2]!, W[0]!], { cacheSize: 0 }));
    expect(b).toEqual(a);
    expect(c).toEqual(a);
    // and every member gets a share
    const counts = new Map<string | undefined, number>();
    for (const id of a.values()) counts.set(id, (counts.get(id) ?? 0) + 1);
    expect([...counts.keys()].sort()).toEqual(["worker-a", "worker-b", "worker-c"]);
    for (const n of counts.values()) expect(n).toBeGreaterThan(AORS.length * 0.2);
  });

  it("returns the member (with its sipAddress) as given", () => {
    const r = ringOf(W);
    const o = r.ownerOf("sip:alice@example.com")!;
    expect(W).toContainEqual(o);
  });

  it("adding a 4th member moves ~1/4 of AORs, all to the newcomer", () => {
    const r = ringOf(W);
    const before = owners(r);
    expect(r.setMembers([...W, D])).toBe(true);
    const after = owners(r);
    let moved = 0;
    for (const aor of AORS) {
      if (before.get(aor) !== after.get(aor)) {
        moved++;
        expect(after.get(aor), aor).toBe("worker-d");
      }
    }
    const fraction = moved / AORS.length;
    expect(fraction).toBeGreaterThanOrEqual(0.15);
    expect(fraction).toBeLessThanOrEqual(0.35);
  });

  it("removing a member moves only that member's AORs", () => {
    const r = ringOf([...W, D]);
    const before = owners(r);
    r.setMembers(W.filter((m) => m.id !== "worker-b").concat(D));
    const after = owners(r);
    let moved = 0;
    for (const aor of AORS) {
      if (before.get(aor) !== after.get(aor)) {
        moved++;
        expect(before.get(aor), aor).toBe("worker-b");
      }
      expect(after.get(aor)).not.toBe("worker-b");
    }
    expect(moved).toBe([...before.values()].filter((id) => id === "worker-b").length);
  });

  it("setMembers reports change and bumps version only on change", () => {
    const r = new AorRing();
    expect(r.setMembers(W)).toBe(true);
    expect(r.version).toBe(1);
    expect(r.setMembers([W[1]!, W[0]!, W[2]!])).toBe(false);
    expect(r.version).toBe(1);
    // same ids, new address: changed (owners keep their keys, addresses update)
    const owner = r.ownerOf("sip:alice@example.com")!;
    const moved = W.map((m) => (m.id === owner.id ? { ...m, sipAddress: "10.9.9.9:5070" } : m));
    expect(r.setMembers(moved)).toBe(true);
    expect(r.version).toBe(2);
    expect(r.ownerOf("sip:alice@example.com")).toEqual({ id: owner.id, sipAddress: "10.9.9.9:5070" });
    expect(r.size).toBe(3);
    expect(r.members().map((m) => m.id)).toEqual(["worker-a", "worker-b", "worker-c"]);
  });

  it("cache is cleared on change (no stale owner after removal)", () => {
    const r = ringOf(W);
    const o = r.ownerOf("sip:bob@example.com")!;
    r.setMembers(W.filter((m) => m.id !== o.id));
    expect(r.ownerOf("sip:bob@example.com")!.id).not.toBe(o.id);
  });

  it("bounded cache still answers correctly after eviction", () => {
    const small = ringOf(W, { cacheSize: 8 });
    const ref = owners(ringOf(W, { cacheSize: 0 }));
    for (let round = 0; round < 2; round++) {
      for (const aor of AORS.slice(0, 200)) expect(small.ownerOf(aor)?.id).toBe(ref.get(aor));
    }
  });

  it("prototype-like keys are ordinary keys", () => {
    const r = ringOf(W);
    for (const k of ["__proto__", "constructor", "toString", "hasOwnProperty"]) {
      const o = r.ownerOf(k);
      expect(o).toBeDefined();
      expect(ringOf(W, { cacheSize: 0 }).ownerOf(k)).toEqual(o);
    }
    expect(owners(r)).toEqual(owners(ringOf(W)));
  });

  it("duplicate ids collapse deterministically", () => {
    const dupA = { id: "worker-a", sipAddress: "10.0.0.99:5070" };
    const r1 = ringOf([...W, dupA]);
    const r2 = ringOf([dupA, ...W]);
    expect(r1.size).toBe(3);
    expect(r1.members()).toEqual(r2.members());
  });

  it("rejects nonsense options", () => {
    expect(() => new AorRing({ vnodes: 0 })).toThrow(RangeError);
    expect(() => new AorRing({ cacheSize: -1 })).toThrow(RangeError);
  });
});
