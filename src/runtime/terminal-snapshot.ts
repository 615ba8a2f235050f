/**
 * What a status read would return right after a turn that ended its instance committed, known
 * without reading (docs/runtime-semantics.md §4.2). Waiters in this process are woken with it and
 * skip the read they would otherwise make (one round trip at the end of every awaited instance).
 *
 * The end is the terminal event the turn recorded, which is what the history read returns. The
 * custom status is the part the runtime cannot see in general: its version counts the acks that
 * set it over every execution of the instance, stored by the provider. It is known in one case,
 * the common one: the instance is in its first execution (no earlier execution could have set it;
 * deleting an instance deletes its custom status) and neither the history nor the turn set it,
 * so it is null at version 0. Otherwise there is no snapshot and waiters read.
 */
import type { Event } from "../core/events.ts";
import type { TerminalSnapshot } from "../instance-signals.ts";

/**
 * The snapshot of a turn of execution `executionId` whose stored history before the turn is
 * `history` (complete: callers pass nothing when the history could not be read) and which
 * recorded `delta`; undefined when the turn did not end the instance or the snapshot is unknown.
 */
export function terminalSnapshot(executionId: number, history: readonly Event[] | null, delta: readonly Event[]): TerminalSnapshot | undefined {
  if (executionId !== 1 || history === null) return undefined;
  let end: TerminalSnapshot["end"] | undefined;
  for (const e of delta) {
    if (e.type === "CustomStatusUpdated") return undefined;
    if (e.type === "OrchestrationCompleted") end = { status: "Completed", output: e.output };
    else if (e.type === "OrchestrationFailed") end = { status: "Failed", details: e.details };
  }
  if (end === undefined) return undefined;
  for (const e of history) if (e.type === "CustomStatusUpdated") return undefined;
  return { end, customStatus: null, customStatusVersion: 0 };
}
