/**
 * Whether a CancelInstance applies to this instance. A client's cancel (no `from`) always does. A
 * parent's cancel carries the call that sent it, and applies only to the child that very call
 * started: the instance's OrchestrationStarted must carry the same parent link. Otherwise the id
 * was already held by another instance when the parent asked for it (its start was refused,
 * docs/runtime-semantics.md §3.6), and the cancel must not reach that holder (§3.10).
 */
import type { EventOf } from "../../core/events.ts";
import type { WorkItemOf } from "../../core/work-items.ts";

/**
 * Null when `cancel` applies to the execution started by `started`; otherwise why it is ignored,
 * for a warning. `started` is null when the execution's OrchestrationStarted is not at hand.
 */
export function strayParentCancel(cancel: WorkItemOf<"CancelInstance">, started: EventOf<"OrchestrationStarted"> | null): string | null {
  const from = cancel.from;
  if (from === undefined) return null;
  // An absent parent_execution_id means execution 1 (docs/provider-contract.md §2.3).
  if (started !== null && started.parent_instance === from.instance && started.parent_id === from.event_id && (started.parent_execution_id ?? 1) === from.execution_id) {
    return null;
  }
  const sender = `"${from.instance}" (execution ${from.execution_id}, event ${from.event_id})`;
  const own =
    started === null
      ? "its start cannot be read"
      : started.parent_instance === null || started.parent_id === null
        ? "it was not started by a parent orchestration"
        : `it is the child of "${started.parent_instance}" (execution ${started.parent_execution_id ?? 1}, event ${started.parent_id})`;
  return (
    `ignored CancelInstance (reason "${cancel.reason}") sent by parent ${sender}: that call did not start this instance, ${own}. ` +
    `The parent asked for an instance id already in use (its start was refused); this instance runs on. ` +
    `Cancel it with the client if it must stop, and give children ids no other instance uses.`
  );
}
