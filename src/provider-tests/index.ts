/**
 * duroxide/provider-tests: the provider correctness suite.
 *
 * A provider repo's whole test file:
 *   import { runAllTests } from "duroxide/provider-tests";
 *   await runAllTests({ createProvider: async () => MyProvider.fresh() });
 *
 * Each catalog module is also runnable alone (runAtomicityTests, ...), and `modules` exposes the
 * raw cases for custom harnesses.
 */
import { registerModules, type ProviderFactory, type ProviderModule, type SuiteOptions } from "./harness.ts";
import { atomicity } from "./atomicity.ts";
import { errorHandling } from "./error-handling.ts";
import { instanceCreation } from "./instance-creation.ts";
import { instanceLocking } from "./instance-locking.ts";
import { lockExpiration } from "./lock-expiration.ts";
import { multiExecution } from "./multi-execution.ts";
import { queueSemantics } from "./queue-semantics.ts";
import { management } from "./management.ts";
import { longPolling } from "./long-polling.ts";
import { poisonMessage } from "./poison-message.ts";
import { cancellation } from "./cancellation.ts";
import { capabilityFiltering } from "./capability-filtering.ts";
import { customStatus } from "./custom-status.ts";
import { deletion } from "./deletion.ts";
import { bulkDeletion } from "./bulk-deletion.ts";
import { prune } from "./prune.ts";
import { sessions } from "./sessions.ts";
import { tagFiltering } from "./tag-filtering.ts";
import { kvStore } from "./kv-store.ts";
import { inputValidation } from "./input-validation.ts";
import { capabilities } from "./capabilities.ts";

export type { ProviderFactory, SuiteOptions, ProviderCase, ProviderModule, CaseContext, Requirement } from "./harness.ts";
export { registerModules } from "./harness.ts";
/** Wrap the provider under test to check that a runtime on it survives its faults (docs/runtime-semantics.md §1.10). */
export {
  FaultInjectingProvider,
  FAULT_MODES,
  FAULTABLE_PROVIDER_METHODS,
  FAULTABLE_ADMIN_METHODS,
  type FaultInjectingOptions,
  type FaultMode,
  type FaultStats,
  type FaultableMethod,
} from "../testing/fault-injecting-provider.ts";

/**
 * The 18 modules of the original's catalog, in catalog order, then this port's additions
 * (docs/provider-contract.md §15).
 */
export const modules = {
  atomicity,
  errorHandling,
  instanceCreation,
  instanceLocking,
  lockExpiration,
  multiExecution,
  queueSemantics,
  management,
  longPolling,
  poisonMessage,
  cancellation,
  capabilityFiltering,
  customStatus,
  deletion,
  bulkDeletion,
  prune,
  sessions,
  tagFiltering,
  kvStore,
  inputValidation,
  capabilities,
} as const satisfies Record<string, ProviderModule>;

/** Registers every module's cases with bun:test, one `describe` per module. Use with top-level await. */
export function runAllTests(factory: ProviderFactory, options?: SuiteOptions): Promise<void> {
  return registerModules(Object.values(modules), factory, options);
}

const runner = (m: ProviderModule) => (factory: ProviderFactory, options?: SuiteOptions) => registerModules([m], factory, options);

export const runAtomicityTests = runner(atomicity);
export const runErrorHandlingTests = runner(errorHandling);
export const runInstanceCreationTests = runner(instanceCreation);
export const runInstanceLockingTests = runner(instanceLocking);
export const runLockExpirationTests = runner(lockExpiration);
export const runMultiExecutionTests = runner(multiExecution);
export const runQueueSemanticsTests = runner(queueSemantics);
export const runManagementTests = runner(management);
export const runLongPollingTests = runner(longPolling);
export const runPoisonMessageTests = runner(poisonMessage);
export const runCancellationTests = runner(cancellation);
export const runCapabilityFilteringTests = runner(capabilityFiltering);
export const runCustomStatusTests = runner(customStatus);
export const runDeletionTests = runner(deletion);
export const runBulkDeletionTests = runner(bulkDeletion);
export const runPruneTests = runner(prune);
export const runSessionsTests = runner(sessions);
export const runTagFilteringTests = runner(tagFiltering);
export const runKvStoreTests = runner(kvStore);
export const runInputValidationTests = runner(inputValidation);
export const runCapabilitiesTests = runner(capabilities);
