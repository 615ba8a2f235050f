/**
 * Child starts that cannot start anything: a `StartOrchestration` from a parent for an instance id
 * another instance already holds (docs/runtime-semantics.md §3.6, §1.4.1 step 4). The start is not
 * run, but the parent waits for an answer, so the batch answers it with `SubOrchFailed`: an
 * application error the parent's code can catch, naming the id and who holds it. A start carrying
 * the holder's own parent link is a redelivery of the start that created it, and is ignored.
 */
import type { ErrorDetails } from "../../core/error-details.ts";
import type { EventOf } from "../../core/events.ts";
import type { WorkItem, WorkItemOf } from "../../core/work-items.ts";

/** Who started an instance and waits for it: parent instance, its execution, the schedule's event id. */
interface ParentLink {
  instance: string;
  execution: number;
  eventId: number;
}

type Linked = { parent_instance: string | null; parent_id: number | null; parent_execution_id?: number };

/** The parent link of a start or a Started event; absent `parent_execution_id` means 1 (docs/provider-contract.md §2.3). */
function linkOf(x: Linked): ParentLink | null {
  if (x.parent_instance === null || x.parent_id === null) return null;
  return { instance: x.parent_instance, execution: x.parent_execution_id ?? 1, eventId: x.parent_id };
}

function sameLink(a: ParentLink | null, b: ParentLink): boolean {
  return a !== null && a.instance === b.instance && a.execution === b.execution && a.eventId === b.eventId;
}

/**
 * The holder of `instance`, as seen from a start that clashes with it: `holder` is the
 * OrchestrationStarted of its current execution, null when that cannot be read.
 */
function describeHolder(instance: string, holder: EventOf<"OrchestrationStarted"> | null, requester: ParentLink): string {
  if (requester.instance === instance) return "the calling orchestration itself";
  if (holder === null) return "an existing instance (its history cannot be read)";
  const link = linkOf(holder);
  if (link === null) return `an instance of "${holder.name}" not started by a parent orchestration (a client or a detached start)`;
  return `the child of "${link.instance}" (execution ${link.execution}, event ${link.eventId}), an instance of "${holder.name}"`;
}

export interface RefusedStart {
  /** The answer to the parent. */
  reply: WorkItemOf<"SubOrchFailed">;
  /** The error message, for the log. */
  message: string;
}

/**
 * Answers for the batch's child starts that do not start `instance`.
 * @param holder the OrchestrationStarted of the instance's current execution (possibly written by
 *   this very batch); null if the history cannot be read.
 * @param startedBy the start message that created the instance in this batch, if any.
 */
export function refuseChildStarts(
  instance: string,
  messages: WorkItem[],
  holder: EventOf<"OrchestrationStarted"> | null,
  startedBy: WorkItem | undefined,
): RefusedStart[] {
  const refused: RefusedStart[] = [];
  const holderLink = holder === null ? null : linkOf(holder);
  for (const m of messages) {
    if (m.type !== "StartOrchestration" || m === startedBy) continue;
    const requester = linkOf(m);
    // A client or detached start expects no answer; a redelivered start of this very child is a no-op.
    if (requester === null || sameLink(holderLink, requester)) continue;
    const message =
      `sub-orchestration "${m.orchestration}" was not started: instance id "${instance}" is already in use by ` +
      `${describeHolder(instance, holder, requester)}. Give the child an instanceId no other instance uses, ` +
      `or leave it out for an automatic one.`;
    const details: ErrorDetails = { type: "Application", kind: "OrchestrationFailed", message, retryable: false };
    refused.push({
      reply: { type: "SubOrchFailed", parent_instance: requester.instance, parent_execution_id: requester.execution, parent_id: requester.eventId, details },
      message,
    });
  }
  return refused;
}
