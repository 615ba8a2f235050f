/**
 * Where the queue-depth gauges come from (docs/runtime-semantics.md §9.2): the provider's
 * management capability (`getQueueDepths`), read when metrics are read, never on the hot path.
 * Null when the provider has no management capability (the gauges then stay absent at 0).
 */
import type { Provider } from "../../provider.ts";
import type { SampledQueueDepths } from "./runtime-metrics.ts";

export function queueDepthSampler(provider: Provider): () => Promise<SampledQueueDepths | null> {
  return async () => {
    const admin = provider.asManagementCapability();
    if (admin === null || typeof admin.getQueueDepths !== "function") return null;
    const q = await admin.getQueueDepths();
    return { orchestrator: q.orchestrator_queue, worker: q.worker_queue };
  };
}
