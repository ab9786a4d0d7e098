/**
 * Transaction timers run on one FIFO queue per duration (timer-queue.ts) instead of a
 * scheduler timer per transaction (issue 7: a UDP server transaction waits 32 s in Completed, Timer J,
 * so per-transaction timer objects were multiplied by rate x 32). What must still hold is RFC 3261
 * §17's timing, for many transactions at once, with timers cleared and restarted in between.
 */
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { describe, expect, it } from "vitest";
import { NonInviteClientTransaction } from "./non-invite-client.js";
import { NonInviteServerTransaction } from "./non-invite-server.js";
import { RecordingClientUser, RecordingServerUser, UDP, env, request, responseBytes, responseTo } from "./test-support.js";

function completedServer(e: ReturnType<typeof env>, i: number, user = new RecordingServerUser()): NonInviteServerTransaction {
  const req = request({ method: "REGISTER", branch: `z9hG4bKq${i}` });
  const tx = new NonInviteServerTransaction(req, UDP, user, e.env);
  tx.respond(200, responseBytes(req, 200));
  return tx;
}

describe("transaction timers on per-duration queues", () => {
  it("RFC 3261 §17.2.2: 1,000 transactions entering Completed 10 ms apart each end exactly 64*T1 later; aborted ones end once, at abort", () => {
    const e = env();
    const users: RecordingServerUser[] = [];
    const txs: NonInviteServerTransaction[] = [];
    for (let i = 0; i < 1000; i++) {
      users.push(new RecordingServerUser());
      txs.push(completedServer(e, i, users[i]));
      e.scheduler.advance(10);
    }
    // Every third is aborted early (layer shutdown style): its Timer J entry must not fire later.
    for (let i = 0; i < 1000; i += 3) txs[i]!.abort();
    // t = 10,000 ms now; transaction i entered Completed at 10*i and ends at 10*i + 32,000.
    e.scheduler.advance(32_000 - 10_000 - 1 + 10 * 0); // t = 31,999: the first live one is 1 ms away
    expect(txs.filter((t, i) => i % 3 !== 0 && t.terminated)).toHaveLength(0);
    e.scheduler.advance(1); // t = 32,000: transaction 0 was aborted; transaction 1 ends at 32,010
    expect(txs[1]!.terminated).toBe(false);
    e.scheduler.advance(10);
    expect(txs[1]!.terminated).toBe(true);
    expect(txs[2]!.terminated).toBe(false);
    e.scheduler.advance(10_000);
    expect(txs.every((t) => t.terminated)).toBe(true);
    for (const u of users) expect(u.events).toEqual(["terminated"]);
    expect(e.scheduler.pending).toBe(0);
  });

  it("RFC 3261 §17.1.2.2: restarted and cleared timers (E doubling, F cleared by the final, K) across many client transactions", () => {
    const e = env();
    const users = Array.from({ length: 50 }, () => new RecordingClientUser());
    const txs = users.map((u, i) => new NonInviteClientTransaction(request({ method: "MESSAGE", branch: `z9hG4bKc${i}` }), UDP, u, e.env));
    txs.forEach((t) => t.start());
    e.scheduler.advance(2000); // E fired at 500 and 1500 for everyone
    // Half get their 200 now: E and F cleared, K (T4 = 5 s) started.
    txs.forEach((t, i) => {
      if (i % 2 === 0) t.receiveResponse(responseTo(t.request, 200));
    });
    expect(txs[0]!.activeTimers()).toEqual(["K"]);
    e.scheduler.advance(5000);
    expect(txs.filter((t) => t.terminated)).toHaveLength(25);
    // The rest retransmit on E (T2 cap) until F at 32 s.
    e.scheduler.advance(24_999);
    expect(txs.filter((t) => t.terminated)).toHaveLength(25);
    e.scheduler.advance(1);
    expect(txs.every((t) => t.terminated)).toBe(true);
    expect(users[1]!.types()).toEqual(["timeout", "terminated"]);
    expect(users[0]!.types()).toEqual(["response:200", "terminated"]);
    // Each unanswered one was sent 11 times (0, 500, 1500, 3500, ..., 31500), each answered one 3 times.
    const perBranch = new Map<string, number>();
    for (const s of e.sender.sent) {
      const b = /branch=(z9hG4bKc\d+)/.exec(s.text)![1]!;
      perBranch.set(b, (perBranch.get(b) ?? 0) + 1);
    }
    expect(perBranch.get("z9hG4bKc1")).toBe(11);
    expect(perBranch.get("z9hG4bKc0")).toBe(3);
    expect(e.scheduler.pending).toBe(0);
  });

  it("a queue whose remaining entries were all cancelled keeps no scheduler timer (nothing holds the process open)", () => {
    const e = env();
    const a = completedServer(e, 1);
    e.scheduler.advance(10);
    const b = completedServer(e, 2);
    e.scheduler.advance(10);
    const c = completedServer(e, 3);
    b.abort(); // not the head: its slot is emptied, the queue stays armed for a
    e.scheduler.advance(32_000 - 20); // a's Timer J fires; the next entry (b) is cancelled
    expect(a.terminated).toBe(true);
    c.abort();
    expect(e.scheduler.pending).toBe(0);
  });

  it("a TU callback that throws does not stop the queue: later transactions still time out", () => {
    const e = env();
    const throwing = new RecordingServerUser();
    throwing.onTerminated = () => {
      throw new Error("TU bug");
    };
    completedServer(e, 1, throwing);
    e.scheduler.advance(10);
    const later = completedServer(e, 2);
    expect(() => e.scheduler.advance(32_000)).toThrow("TU bug");
    expect(later.terminated).toBe(false); // due at 32,010
    e.scheduler.advance(10);
    expect(later.terminated).toBe(true);
    expect(e.scheduler.pending).toBe(0);
  });

  it("a cleared timer's queue entry no longer holds its transaction (it can be collected before the entry's time)", async () => {
    setFlagsFromString("--expose-gc");
    const gc = runInNewContext("gc") as () => void;
    const e = env();
    const keep = completedServer(e, 0); // keeps the Timer J queue non-empty
    // Made and aborted inside a function, so no variable of this test still points at it.
    const ref = ((): WeakRef<NonInviteServerTransaction> => {
      const aborted = completedServer(e, 1);
      aborted.abort();
      return new WeakRef(aborted);
    })();
    e.terminated.length = 0; // the test env's own record of terminated transactions
    // A WeakRef's target is kept until the current job ends (ECMA-262 KeepDuringJob).
    await new Promise((resolve) => setTimeout(resolve, 0));
    gc();
    expect(ref.deref()).toBeUndefined();
    expect(keep.terminated).toBe(false);
  });

  it("a transaction runs at most two timers (its two inline slots, RFC 3261 §17 never needs more); a third is refused and the two keep running", () => {
    class ThreeTimers extends NonInviteServerTransaction {
      start(name: "E" | "F" | "G"): void {
        this.startTimer(name, 1000, () => undefined);
      }
    }
    const e = env();
    const tx = new ThreeTimers(request({ method: "OPTIONS" }), UDP, new RecordingServerUser(), e.env);
    tx.start("E");
    tx.start("F");
    tx.start("E"); // a restart replaces, it does not add
    expect(tx.activeTimers().sort()).toEqual(["E", "F"]);
    expect(() => tx.start("G")).toThrow("timer G with E and F running (at most two run at once)");
    expect(tx.activeTimers().sort()).toEqual(["E", "F"]);
    tx.abort(); // clears both; the refused G left no queue entry behind to keep a scheduler timer armed
    expect(e.scheduler.pending).toBe(0);
  });
});
