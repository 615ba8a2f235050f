/**
 * Everything the instance page shows, read through `Client` (docs/runtime-semantics.md §4.2–§4.4):
 * status with output or error, custom status, input, KV values, executions, the family tree, and
 * one execution's history with its timeline (timeline.ts).
 */
import type { Client, OrchestrationStatus } from "../client.ts";
import type { ExecutionInfo } from "../core/admin-types.ts";
import type { Event } from "../core/events.ts";
import { DashboardRequestError } from "./http-responses.ts";
import { readInstanceFamily, type InstanceFamily } from "./instance-tree.ts";
import { buildTimeline, type Timeline } from "./timeline.ts";

export interface InstanceView {
  instanceId: string;
  name: string;
  version: string;
  createdAt: number;
  updatedAt: number;
  /** The status the client reports (output for Completed, details and message for Failed). */
  status: OrchestrationStatus;
  /** The shown execution's input, as the JSON text stored in its OrchestrationStarted. */
  input: string | null;
  kv: Record<string, unknown>;
  executions: ExecutionInfo[];
  /** The execution whose history and timeline are shown. */
  executionId: number;
  currentExecutionId: number;
  history: Event[];
  timeline: Timeline;
  family: InstanceFamily;
  /** Server time of the read: the page draws pending bars up to it. */
  nowMs: number;
}

/** Reads `?id=` and the optional `?execution=`; a bad value is a DashboardRequestError naming it. */
export function parseInstanceQuery(params: URLSearchParams): { instanceId: string; executionId: number | null } {
  const instanceId = params.get("id");
  if (instanceId === null || instanceId === "") throw new DashboardRequestError("id is required: /api/instance?id=INSTANCE_ID");
  const raw = params.get("execution");
  if (raw === null || raw === "") return { instanceId, executionId: null };
  const n = /^\d+$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isSafeInteger(n) || n < 1) throw new DashboardRequestError(`execution must be a positive integer, got ${JSON.stringify(raw)}`);
  return { instanceId, executionId: n };
}

export async function readInstanceView(client: Client, instanceId: string, executionId: number | null): Promise<InstanceView> {
  const info = await client.getInstanceInfo(instanceId);
  const executionIds = await client.listExecutions(instanceId);
  const shown = executionId ?? info.current_execution_id;
  if (!executionIds.includes(shown)) {
    throw new DashboardRequestError(`instance has no execution ${shown} (it has ${executionIds.join(", ") || "none"})`);
  }
  const [status, kv, executions, history, family] = await Promise.all([
    client.getOrchestrationStatus(instanceId),
    client.getKvAllValues(instanceId),
    Promise.all(executionIds.map((e) => client.getExecutionInfo(instanceId, e))),
    client.readExecutionHistory(instanceId, shown),
    readInstanceFamily(client, info),
  ]);
  const started = history.find((e) => e.type === "OrchestrationStarted");
  const nowMs = Date.now();
  return {
    instanceId,
    name: info.orchestration_name,
    version: info.orchestration_version,
    createdAt: info.created_at,
    updatedAt: info.updated_at,
    status,
    input: started?.type === "OrchestrationStarted" ? started.input : null,
    kv,
    executions,
    executionId: shown,
    currentExecutionId: info.current_execution_id,
    history,
    timeline: buildTimeline(history, nowMs),
    family,
    nowMs,
  };
}
