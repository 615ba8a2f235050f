/**
 * `runtime.getOrchestrationDescriptor(instanceId)`: which orchestration an instance runs, read
 * from its latest execution's OrchestrationStarted (name, pinned version, parent link), as the
 * original's Runtime::get_orchestration_descriptor does (docs/runtime-semantics.md §3.11).
 */
import { ValidationError } from "../core/errors.ts";
import { idProblem } from "../core/ids.ts";
import type { Provider } from "../provider.ts";

export interface OrchestrationDescriptor {
  name: string;
  /** The version the latest execution runs (pinned at its start or continue-as-new). */
  version: string;
  /** The parent instance of a sub-orchestration; null for a root. */
  parentInstance: string | null;
  /** The parent's SubOrchestrationScheduled event id; null for a root. */
  parentId: number | null;
}

/** The descriptor of `instanceId`, or null when it has no history yet. */
export async function readOrchestrationDescriptor(provider: Provider, instanceId: string): Promise<OrchestrationDescriptor | null> {
  const problem = idProblem("instanceId", instanceId);
  if (problem !== null) throw new ValidationError(`getOrchestrationDescriptor: ${problem}`);
  const history = await provider.read(instanceId);
  for (let i = history.length - 1; i >= 0; i--) {
    const e = history[i]!;
    if (e.type === "OrchestrationStarted") {
      return { name: e.name, version: e.version, parentInstance: e.parent_instance, parentId: e.parent_id };
    }
  }
  return null;
}
