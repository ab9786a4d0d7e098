/**
 * Every cluster bus subject, versioned, with its payload type — the ONE place
 * they are documented (DESIGN §4). Payloads are JSON objects. A breaking payload
 * change gets a new version token (`edgepath.v2....`), never an in-place edit, so
 * mixed-version clusters during a rolling upgrade ignore what they don't speak.
 *
 * Headers: `traceparent` / `tracestate` (W3C Trace Context) carry the trace of
 * the SIP transaction that caused an event.
 */
export const Subjects = {
  /** Registrar worker heartbeat, every ~1 s. Payload: MemberHeartbeat (role "worker"). */
  workerHeartbeat: "edgepath.v1.member.worker",
  /** Edge heartbeat, every ~1 s. Payload: MemberHeartbeat (role "edge"). */
  edgeHeartbeat: "edgepath.v1.member.edge",
  /** Graceful leave, sent once on shutdown. Payload: MemberLeave. */
  memberLeave: "edgepath.v1.member.leave",
  /** A REGISTER changed an AOR's bindings (caches elsewhere drop it). Payload: BindingChanged. */
  bindingChanged: "edgepath.v1.binding.changed",
  /** An edge saw a connection flow close or fail (RFC 5626 §5.3). Payload: FlowFailed. */
  flowFailed: "edgepath.v1.flow.failed",
  /**
   * A flow reported failed answers again: an edge's OPTIONS ping over a UDP flow got a response
   * after the flow had been reported with reason "ping-timeout" (DESIGN §3). Workers mark the
   * unreachable bindings of that flow token in the listed AORs reachable. Payload: FlowAlive.
   */
  flowAlive: "edgepath.v1.flow.alive",
  /** An edge left without a graceful leave (heartbeats stopped). Payload: EdgeDown. */
  edgeDown: "edgepath.v1.edge.down",
  /**
   * An edge process (re)started at an address: it came back after an edgeDown, or its
   * heartbeat's startedAt changed in place. Workers restore its UDP bindings and mark its
   * connection flows older than the new process unreachable. Payload: EdgeUp.
   */
  edgeUp: "edgepath.v1.edge.up",
} as const;

export type Subject = (typeof Subjects)[keyof typeof Subjects];

export type MemberRole = "worker" | "edge";

/** Payload of workerHeartbeat / edgeHeartbeat. */
export interface MemberHeartbeat {
  /** Stable id (EDGEPATH_NODE_ID); the ring places AORs by it. */
  id: string;
  role: MemberRole;
  /** host:port of the internal SIP address. */
  sipAddress: string;
  /** host:port of the HTTP side port (admin API), when it has one. */
  httpAddress?: string;
  /** Epoch ms the process started: a new value means a restart. */
  startedAt: number;
  /** Increases by one per heartbeat from this process (reordering detection). */
  seq: number;
  /** Shutting down: still serving, but take it out of the ring (DESIGN §5). */
  draining?: boolean;
}

/** Payload of memberLeave. */
export interface MemberLeave {
  id: string;
  role: MemberRole;
}

/** Payload of bindingChanged. */
export interface BindingChanged {
  /** Canonical AOR. */
  aor: string;
  /** Worker id that made the change. */
  by: string;
}

/** Payload of flowFailed. */
export interface FlowFailed {
  flowToken: string;
  /** host:port (internal) of the edge that held the flow. */
  edge: string;
  /** "closed", "reset", "keepalive-timeout", ... */
  reason: string;
  /** Epoch ms. */
  at: number;
}

/** Payload of flowAlive. */
export interface FlowAlive {
  flowToken: string;
  /** host:port (internal) of the edge that holds the flow. */
  edge: string;
  /** Canonical AORs the edge saw registered over this flow (bounded); the store has no flow->AOR lookup. */
  aors: string[];
  /** Epoch ms. */
  at: number;
}

/** Payload of edgeDown. */
export interface EdgeDown {
  /** host:port (internal) of the edge, as it appears in Path. */
  edge: string;
  /** Epoch ms. */
  at: number;
}

/** Payload of edgeUp. */
export interface EdgeUp {
  /** host:port (internal) of the edge, as it appears in Path. */
  edge: string;
  /** Epoch ms the new edge process started (its heartbeat's startedAt). */
  startedAt: number;
  /** Epoch ms. */
  at: number;
}

/** Payload type of each subject. */
export interface SubjectPayloads {
  [Subjects.workerHeartbeat]: MemberHeartbeat;
  [Subjects.edgeHeartbeat]: MemberHeartbeat;
  [Subjects.memberLeave]: MemberLeave;
  [Subjects.bindingChanged]: BindingChanged;
  [Subjects.flowFailed]: FlowFailed;
  [Subjects.flowAlive]: FlowAlive;
  [Subjects.edgeDown]: EdgeDown;
  [Subjects.edgeUp]: EdgeUp;
}

/** Heartbeat subject for a role. */
export function heartbeatSubject(role: MemberRole): Subject {
  return role === "worker" ? Subjects.workerHeartbeat : Subjects.edgeHeartbeat;
}
