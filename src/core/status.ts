/**
 * Which execution statuses and which history events end an execution: one definition for the
 * client, the runtime, the replay engine and the providers.
 */

/** The status of one execution, as the provider stores it in ExecutionMetadata and admin views. */
export type ExecutionStatus = "Running" | "Completed" | "Failed" | "ContinuedAsNew";

/** Every status an execution can have. */
export const EXECUTION_STATUSES: readonly ExecutionStatus[] = Object.freeze(["Running", "Completed", "Failed", "ContinuedAsNew"]);

/** The statuses of an execution that is over (ContinuedAsNew ends the execution, not the instance). */
export const TERMINAL_STATUSES: readonly ExecutionStatus[] = Object.freeze(["Completed", "Failed", "ContinuedAsNew"]);

/** The history events that end an execution: once one is recorded it is the execution's last event. */
export const TERMINAL_EVENT_TYPES = Object.freeze(["OrchestrationCompleted", "OrchestrationFailed", "OrchestrationContinuedAsNew"] as const);

const terminalStatuses: ReadonlySet<string> = new Set(TERMINAL_STATUSES);
const terminalEvents: ReadonlySet<string> = new Set(TERMINAL_EVENT_TYPES);

export function isExecutionStatus(status: unknown): status is ExecutionStatus {
  return (EXECUTION_STATUSES as readonly unknown[]).includes(status);
}

/** True for Completed, Failed and ContinuedAsNew. */
export function isTerminalStatus(status: string | null | undefined): boolean {
  return status != null && terminalStatuses.has(status);
}

/** True for OrchestrationCompleted, OrchestrationFailed and OrchestrationContinuedAsNew. */
export function isTerminalEvent(e: { readonly type: string }): boolean {
  return terminalEvents.has(e.type);
}
