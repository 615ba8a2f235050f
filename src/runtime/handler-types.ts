/**
 * The shapes of user code: orchestration handlers (generator functions) and activity handlers
 * (async functions), and the context an activity receives.
 */
import type { Client } from "../client.ts";
import type { OrchestrationContext } from "./context.ts";
import type { DurableTask } from "./tasks.ts";

/**
 * An orchestration: a generator function. `yield*` a task to get its result; a failed task throws.
 * Input is the JSON-decoded start input; the return value is JSON-encoded as the output.
 */
export type OrchestrationHandler<In = any, Out = any> = (
  ctx: OrchestrationContext,
  input: In,
) => Generator<DurableTask<any>, Out, any>;

/** An activity: ordinary async code. Throw to fail; the return value is JSON-encoded. */
export type ActivityHandler<In = any, Out = any> = (ctx: ActivityContext, input: In) => Out | Promise<Out>;

export interface ActivityContext {
  readonly instanceId: string;
  readonly executionId: number;
  /** The ActivityScheduled event id: unique within the execution. */
  readonly activityId: number;
  readonly activityName: string;
  readonly orchestrationName: string;
  readonly orchestrationVersion: string;
  /** 1 for the first delivery, more after crashes or lock expiry. */
  readonly attempt: number;
  readonly sessionId: string | undefined;
  readonly tag: string | undefined;
  /** The worker slot (or worker node id) running this activity. */
  readonly workerId: string;
  /** Fires when the activity is cancelled (its orchestration ended or dropped it) or the runtime shuts down. */
  readonly signal: AbortSignal;
  isCancelled(): boolean;
  /** A client on the same provider, e.g. to start other orchestrations. */
  readonly client: Client;
  traceInfo(message: string): void;
  traceWarn(message: string): void;
  traceError(message: string): void;
  traceDebug(message: string): void;
}
