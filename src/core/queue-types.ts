/**
 * The shapes that cross the Provider boundary around the two queues: what a fetch returns, what an
 * ack carries besides events, and the filters a dispatcher passes.
 */
import type { Event } from "./events.ts";
import type { Semver, SemverRange } from "./semver.ts";
import type { ExecutionStatus } from "./status.ts";
import type { WorkItem } from "./work-items.ts";

export interface KvEntry {
  value: string;
  last_updated_at_ms: number;
}

export interface OrchestrationItem {
  instance: string;
  /** From the instance row; for a not-yet-created instance from history or the Start/ContinueAsNew message. */
  orchestration_name: string;
  /** The current execution; the runtime itself uses +1 for ContinueAsNew. */
  execution_id: number;
  /** Instance row, else OrchestrationStarted in history, else Start/ContinueAsNew message, else "unknown". */
  version: string;
  /** All events of the current execution ordered by event_id; [] for new instances. */
  history: Event[];
  /** The locked batch in enqueue order. */
  messages: WorkItem[];
  /** Set (with history = []) when stored history cannot be decoded. */
  history_error: string | null;
  /** Committed KV of completed executions only. */
  kv_snapshot: Record<string, KvEntry>;
}

export interface FetchedOrchestration {
  item: OrchestrationItem;
  lockToken: string;
  /** The highest attempt count over the batch's messages; first delivery = 1. */
  attemptCount: number;
}

export interface FetchedWorkItem {
  item: WorkItem;
  lockToken: string;
  attemptCount: number;
}

// Defined with the terminal statuses (one home); re-exported here with the metadata that carries it.
export type { ExecutionStatus } from "./status.ts";

/** Computed by the runtime per turn; stored by the provider without interpretation. */
export interface ExecutionMetadata {
  /** null/absent = leave the status alone. */
  status?: ExecutionStatus | null;
  /** Completed: result; Failed: rendered error; ContinuedAsNew: next input. */
  output?: string | null;
  orchestration_name?: string | null;
  orchestration_version?: string | null;
  /** Write-once at instance creation; drives cascade delete. */
  parent_instance_id?: string | null;
  /** Sent on an execution's first turn; stored unconditionally. */
  pinned_duroxide_version?: Semver | null;
}

export interface DispatcherCapabilityFilter {
  supported_duroxide_versions: SemverRange[];
}

export interface SessionFetchConfig {
  owner_id: string;
  /** Session lock duration in ms. */
  lock_timeout: number;
}

/** The most tags one worker filter may name. */
export const MAX_WORKER_TAGS = 5;

export type TagFilter =
  | { type: "DefaultOnly" }
  | { type: "Tags"; tags: ReadonlySet<string> }
  | { type: "DefaultAnd"; tags: ReadonlySet<string> }
  | { type: "Any" }
  | { type: "None" };

export const TagFilter = {
  defaultOnly: (): TagFilter => ({ type: "DefaultOnly" }),
  tags: (...tags: string[]): TagFilter => ({ type: "Tags", tags: new Set(tags) }),
  defaultAnd: (...tags: string[]): TagFilter => ({ type: "DefaultAnd", tags: new Set(tags) }),
  any: (): TagFilter => ({ type: "Any" }),
  none: (): TagFilter => ({ type: "None" }),
} as const;

export interface ScheduledActivityIdentifier {
  instance: string;
  execution_id: number;
  activity_id: number;
}
