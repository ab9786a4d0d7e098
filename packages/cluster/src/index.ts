export { BusError, InProcessBus, encodePayload, isValidPattern, isValidSubject, makeBusMessage, subjectMatches } from "./bus.js";
export type { BusMessage, ClusterBus, InProcessBusOptions, Subscription } from "./bus.js";
export { EdgeDownPublisher, edgeDownKey } from "./edge-down.js";
export type { EdgeDownOptions, EdgeDownTimers } from "./edge-down.js";
export { Heartbeater, Membership, isMemberHeartbeat } from "./membership.js";
export type { MembershipOptions, Timers } from "./membership.js";
export { Subjects, heartbeatSubject } from "./subjects.js";
export type { BindingChanged, EdgeDown, EdgeUp, FlowAlive, FlowFailed, MemberHeartbeat, MemberLeave, MemberRole, Subject, SubjectPayloads } from "./subjects.js";
export { EDGE_SENT_AT_HEADER, edgeSentAtValue, monotonicEpochMs, overloadRetryAfter, parseEdgeSentAt } from "./overload.js";
