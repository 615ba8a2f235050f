/**
 * In-process wake-ups for clients waiting on an instance. The runtime calls `notify(instance)`
 * after every committed turn of that instance; a client waiting on the same provider object
 * re-reads at once instead of at its next poll. Across processes nothing is signalled, so waiters
 * still poll on their own (slow) backoff; a signal is only a hint to look again now.
 */
import type { Provider } from "../provider.ts";

export interface InstanceSignals {
  /** Wakes every current waiter of `instanceId`. Cheap when nobody waits. */
  notify(instanceId: string): void;
  /**
   * Resolves on the next notify of `instanceId`, after `timeoutMs`, or when `abort` fires,
   * whichever comes first; never rejects. The waiter is removed in every case.
   */
  wait(instanceId: string, timeoutMs: number, abort?: AbortSignal): Promise<void>;
}

class InstanceSignalHub implements InstanceSignals {
  private readonly waiters = new Map<string, Set<() => void>>();

  notify(instanceId: string): void {
    const set = this.waiters.get(instanceId);
    if (set === undefined) return;
    this.waiters.delete(instanceId);
    for (const wake of set) wake();
  }

  wait(instanceId: string, timeoutMs: number, abort?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      if (abort?.aborted) return resolve();
      const wake = () => {
        clearTimeout(timer);
        abort?.removeEventListener("abort", wake);
        const set = this.waiters.get(instanceId);
        if (set !== undefined) {
          set.delete(wake);
          if (set.size === 0) this.waiters.delete(instanceId);
        }
        resolve();
      };
      const timer = setTimeout(wake, Math.max(0, timeoutMs));
      abort?.addEventListener("abort", wake, { once: true });
      let set = this.waiters.get(instanceId);
      if (set === undefined) this.waiters.set(instanceId, (set = new Set()));
      set.add(wake);
    });
  }

  /** Number of pending waiters (all instances); for tests. */
  get size(): number {
    let n = 0;
    for (const set of this.waiters.values()) n += set.size;
    return n;
  }
}

// Keyed by the provider object, so the runtime and every Client built on one provider share a hub,
// and the hub goes away with the provider.
const hubs = new WeakMap<Provider, InstanceSignalHub>();

export function instanceSignals(provider: Provider): InstanceSignals & { readonly size: number } {
  let hub = hubs.get(provider);
  if (hub === undefined) hubs.set(provider, (hub = new InstanceSignalHub()));
  return hub;
}
