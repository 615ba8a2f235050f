/**
 * duroxide/provider: everything a provider author needs, from one entry. The contract
 * (`Provider`, `ProviderAdmin`, `ProviderCapabilities`), its data model, `ProviderError` and its
 * kinds, the input validators the correctness suite holds every provider to, and the JSON codecs
 * of events and work items. docs/provider-contract.md states the rules; src/providers/memory.ts
 * (`duroxide/memory`) is a whole provider built from this entry alone.
 */
export type { Provider, ProviderAdmin, ProviderCapabilities } from "./provider.ts";
export { ProviderError, PROVIDER_ERROR_KINDS, DecodeError, type ProviderErrorKind } from "./core/errors.ts";

// The data model.
export type * from "./core/events.ts";
export type * from "./core/work-items.ts";
export type * from "./core/error-details.ts";
export type * from "./core/queue-types.ts";
export type * from "./core/admin-types.ts";
export type { Semver, SemverRange } from "./core/semver.ts";
export { TagFilter, MAX_WORKER_TAGS } from "./core/queue-types.ts";

// Codecs: JSON text <-> validated values (decoders throw DecodeError naming what was wrong).
export { encodeEvent, decodeEvent, validateEvent } from "./core/events.ts";
export { isTerminalEvent, isTerminalStatus, TERMINAL_STATUSES } from "./core/status.ts";
export { encodeWorkItem, decodeWorkItem, validateWorkItem, workItemInstance } from "./core/work-items.ts";
export { compareSemver, semverInRange } from "./core/semver.ts";

// Input validation, per contract method (throws ProviderError "InvalidArgument").
export {
  validateProviderInput,
  validateAdminInput,
  checkCapabilityFilter,
  ORCHESTRATOR_FORBIDDEN_ITEMS,
  WORKER_ITEMS,
  COMPLETION_ITEMS,
} from "./providers/validate-args.ts";

// Long polling within one process: fetches wait on a WakeSignal that enqueues notify.
export { WakeSignal } from "./providers/wake-signal.ts";
