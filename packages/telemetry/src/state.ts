/**
 * Whether an SDK was set up in this process. Hot paths check this one boolean before doing any
 * tracing work (header reads, attribute objects, context switches): with tracing off, the cost is
 * a property load per SIP message. Only `startTelemetry` flips it.
 */
let enabled = false;

export function tracingEnabled(): boolean {
  return enabled;
}

/** @internal set by the set-up call */
export function setTracingEnabled(on: boolean): void {
  enabled = on;
}
