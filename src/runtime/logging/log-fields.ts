/**
 * The context fields of runtime log lines (docs/runtime-semantics.md §10.2): every line about an
 * orchestration turn carries its instance, execution, orchestration name and delivery attempt;
 * every line about an activity its instance, execution, activity name and id, and attempt. The
 * line's own fields come last and win. Built only when a line is actually written.
 */
import type { FetchedOrchestration, FetchedWorkItem } from "../../core/queue-types.ts";
import type { WorkItemOf } from "../../core/work-items.ts";

export function turnFields(f: FetchedOrchestration, fields: Record<string, unknown> | undefined): Record<string, unknown> {
  const item = f.item;
  const base: Record<string, unknown> = {
    instance_id: item.instance,
    execution_id: item.execution_id,
    orchestration_name: item.orchestration_name,
    orchestration_version: item.version,
    attempt: f.attemptCount,
  };
  return fields === undefined ? base : Object.assign(base, fields);
}

export function activityFields(item: WorkItemOf<"ActivityExecute">, w: FetchedWorkItem, fields?: Record<string, unknown>): Record<string, unknown> {
  const base: Record<string, unknown> = {
    instance_id: item.instance,
    execution_id: item.execution_id,
    activity_name: item.name,
    activity_id: item.id,
    attempt: w.attemptCount,
  };
  if (item.orchestration_name !== undefined) base.orchestration_name = item.orchestration_name;
  if (item.tag !== undefined) base.tag = item.tag;
  if (item.session_id !== undefined) base.session_id = item.session_id;
  return fields === undefined ? base : Object.assign(base, fields);
}
