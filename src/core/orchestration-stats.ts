/**
 * Per-instance statistics (`client.getOrchestrationStats`, docs/runtime-semantics.md §4.4): how
 * big an instance has grown, computed from what the provider already stores (the current
 * execution's history and the KV store), so every provider answers it without a new method.
 */
import type { Event } from "./events.ts";
import { payloadBytes } from "./payload.ts";

export interface OrchestrationStats {
  instanceId: string;
  /** Name and version of the current execution (from its OrchestrationStarted). */
  orchestrationName: string;
  orchestrationVersion: string;
  currentExecutionId: number;
  /** Executions stored (pruned ones are gone); without the management capability, the current execution id. */
  executionCount: number;
  /** Events of the current execution: what `maxHistoryEvents` limits (docs/runtime-semantics.md §5.5). */
  historyEventCount: number;
  /** UTF-8 bytes of the current execution's events as JSON, as providers store them. */
  historySizeBytes: number;
  /** Keys in the instance's KV store (`maxKvKeys` limits them). */
  kvUserKeyCount: number;
  /** UTF-8 bytes of the KV values' JSON. */
  kvTotalValueBytes: number;
  /**
   * Mailbox messages (`client.enqueueEvent`) the current execution received and no
   * `ctx.dequeueEvent` has taken yet: what a continue-as-new would carry forward.
   */
  queuePendingCount: number;
}

/** The history-derived part of the stats (the client adds the instance id, executions and KV). */
export function historyStats(history: readonly Event[]): Pick<OrchestrationStats, "historyEventCount" | "historySizeBytes" | "queuePendingCount"> {
  let bytes = 0;
  for (const e of history) bytes += payloadBytes(JSON.stringify(e));
  return { historyEventCount: history.length, historySizeBytes: bytes, queuePendingCount: pendingQueueMessages(history) };
}

/**
 * Replays the mailbox bookkeeping of docs/runtime-semantics.md §3.5 over the events: the i-th
 * live dequeue of a queue takes its i-th arrival (carried-forward messages first), a cancelled
 * dequeue takes nothing. What is left over is pending.
 */
export function pendingQueueMessages(history: readonly Event[]): number {
  const arrivals = new Map<string, number>();
  const waiting = new Map<string, number[]>(); // queue -> subscription event ids not yet served
  const queueOf = new Map<number, string>();
  const match = (name: string) => {
    const subs = waiting.get(name) ?? [];
    let n = arrivals.get(name) ?? 0;
    while (n > 0 && subs.length > 0) {
      subs.shift();
      n--;
    }
    arrivals.set(name, n);
  };
  for (const e of history) {
    switch (e.type) {
      case "OrchestrationStarted":
        for (const [name] of e.carry_forward_events ?? []) arrivals.set(name, (arrivals.get(name) ?? 0) + 1);
        break;
      case "ExternalSubscribedPersistent": {
        const subs = waiting.get(e.name) ?? [];
        subs.push(e.event_id);
        waiting.set(e.name, subs);
        queueOf.set(e.event_id, e.name);
        match(e.name);
        break;
      }
      case "ExternalEventPersistent":
        arrivals.set(e.name, (arrivals.get(e.name) ?? 0) + 1);
        match(e.name);
        break;
      case "ExternalSubscribedPersistentCancelled": {
        const name = e.source_event_id === null ? undefined : queueOf.get(e.source_event_id);
        const subs = name === undefined ? undefined : waiting.get(name);
        const i = subs?.indexOf(e.source_event_id!) ?? -1;
        if (i >= 0) subs!.splice(i, 1);
        break;
      }
    }
  }
  let pending = 0;
  for (const n of arrivals.values()) pending += n;
  return pending;
}
