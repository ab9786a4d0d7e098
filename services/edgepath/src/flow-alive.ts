/**
 * The registrar side of Subjects.flowAlive (DESIGN §3): an edge's OPTIONS ping over a UDP flow
 * reported failed ("ping-timeout") got an answer again, so the bindings of that flow are
 * reachable again.
 *
 * The store's `markReachable` takes (aor, key) and it has no public flow -> AOR lookup, so the
 * event names the AORs the edge saw registered over the flow; each is looked up and every
 * unreachable, unexpired binding with that flow token is marked reachable. Every worker hears
 * the event and does it (marking is idempotent); through a CachedBindingStore that also drops
 * the AOR from that worker's cache, as flowFailed does.
 */
import type { Logger } from "pino";
import type { BindingStore } from "@edgepath/bindings";
import { Subjects, type BusMessage, type ClusterBus, type FlowAlive, type Subscription } from "@edgepath/cluster";

/** An event naming more AORs than this is trimmed (an edge tracks at most 32 contacts per flow). */
const MAX_AORS_PER_EVENT = 64;

/** Applies one flowAlive event to the store; resolves to the number of bindings marked reachable. */
export async function applyFlowAlive(store: BindingStore, ev: FlowAlive, now: number): Promise<number> {
  let marked = 0;
  for (const aor of ev.aors.slice(0, MAX_AORS_PER_EVENT)) {
    const { bindings } = await store.lookup(aor, now);
    for (const b of bindings) {
      if (b.reachable || b.flowToken !== ev.flowToken) continue;
      await store.markReachable(aor, b.key, now);
      marked++;
    }
  }
  return marked;
}

export function subscribeFlowAlive(bus: ClusterBus, store: BindingStore, logger: Logger): Subscription {
  return bus.subscribe(Subjects.flowAlive, (m: BusMessage) => {
    let ev: Partial<FlowAlive>;
    try {
      ev = m.json<Partial<FlowAlive>>();
    } catch {
      return;
    }
    if (typeof ev.flowToken !== "string" || !Array.isArray(ev.aors)) return;
    const aors = ev.aors.filter((a): a is string => typeof a === "string");
    applyFlowAlive(store, { flowToken: ev.flowToken, edge: String(ev.edge), aors, at: Number(ev.at) }, Date.now()).then(
      (marked) => {
        if (marked > 0) logger.info({ flowToken: ev.flowToken, marked }, "bindings reachable again (flow answers pings)");
      },
      (err: unknown) => logger.warn({ err: err instanceof Error ? err.message : String(err), flowToken: ev.flowToken }, "flow-alive: markReachable failed"),
    );
  });
}
