/**
 * In-process wake-ups for clients waiting on an instance. The runtime calls `notify(instance)`
 * after every committed turn of that instance; a client waiting on the same provider object
 * re-reads at once instead of at its next poll. Across processes nothing is signalled, so waiters
 * still poll on their own (slow) backoff; a signal is only a hint to look again now.
 *
 * The runtime notifies and the Client waits: the hub lives beside both (no I/O, no runtime or
 * client code) so that neither has to import the other's internals.
 */
import type { ErrorDetails } from "./core/error-details.ts";
import type { Provider } from "./provider.ts";

/** Why a wait ended: a turn committed ("turn"), the instance reached a terminal state ("terminal"), or neither. */
export type WakeReason = "terminal" | "turn" | "timeout";

/**
 * What a status read would return right after a turn that ended the instance committed, when the
 * runtime knows it without reading (docs/runtime-semantics.md §4.2): the end as its history
 * records it, and the custom status. A waiter woken with one needs no read.
 */
export interface TerminalSnapshot {
  end: { status: "Completed"; output: string } | { status: "Failed"; details: ErrorDetails };
  customStatus: string | null;
  customStatusVersion: number;
}

export interface InstanceSignals {
  /**
   * Wakes every current waiter of `instanceId`. `terminal` says whether the committed turn ended
   * the instance (default true: waiters then re-read). `known`, when given, says what that read
   * would return (waiters that can use it do not read), as of a commit made after `mark()`
   * returned `known.mark`: only waiters that subscribed before that get it, since the instance
   * may have changed again between the commit and this call (deleted and started anew) and only
   * a wait that began before the commit may answer with its state. Cheap when nobody waits.
   */
  notify(instanceId: string, terminal?: boolean, known?: { snapshot: TerminalSnapshot; mark: number }): void;
  /** A point in the order of subscriptions: taken before a write whose commit a later notify reports. */
  mark(): number;
  /** Wakes every waiter of every instance to re-read (signals may have been missed). */
  notifyAll(): void;
  /**
   * Resolves on the next notify of `instanceId`, after `timeoutMs`, or when `abort` fires,
   * whichever comes first; never rejects. The waiter is removed in every case.
   */
  wait(instanceId: string, timeoutMs: number, abort?: AbortSignal): Promise<WakeReason>;
  /**
   * `wait` without an AbortSignal: `cancel()` ends the wait with "timeout" (a no-op once it
   * ended). What a client's wait loop uses: no AbortController per check.
   */
  subscribe(instanceId: string, timeoutMs: number): Subscription;
  /**
   * Marks a runtime of this process as running turns on this provider (it notifies after each
   * commit) until the returned function is called. Waiters then need polling only as a safety net.
   */
  attachDriver(): () => void;
  /** Whether a runtime of this process is running turns on this provider now. */
  readonly hasDriver: boolean;
}

export interface Subscription {
  readonly woken: Promise<WakeReason>;
  /** Set, before `woken` resolves, when the wake-up carried a TerminalSnapshot. */
  readonly snapshot: TerminalSnapshot | undefined;
  cancel(): void;
}

interface Waiter {
  /** The hub's clock when it subscribed. */
  since: number;
  wake(reason?: WakeReason, snapshot?: TerminalSnapshot): void;
}

class InstanceSignalHub implements InstanceSignals {
  private readonly waiters = new Map<string, Set<Waiter>>();
  /** Counts subscriptions and marks: a waiter with `since < mark` subscribed before that mark. */
  private clock = 0;
  private drivers = 0;

  attachDriver(): () => void {
    this.drivers++;
    let attached = true;
    return () => {
      if (attached) this.drivers--;
      attached = false;
    };
  }

  get hasDriver(): boolean {
    return this.drivers > 0;
  }

  mark(): number {
    return ++this.clock;
  }

  notify(instanceId: string, terminal = true, known?: { snapshot: TerminalSnapshot; mark: number }): void {
    const set = this.waiters.get(instanceId);
    if (set === undefined) return;
    this.waiters.delete(instanceId);
    for (const w of set) w.wake(terminal ? "terminal" : "turn", terminal && known !== undefined && w.since < known.mark ? known.snapshot : undefined);
  }

  notifyAll(): void {
    const all = [...this.waiters.values()];
    this.waiters.clear();
    for (const set of all) for (const w of set) w.wake("terminal");
  }

  wait(instanceId: string, timeoutMs: number, abort?: AbortSignal): Promise<WakeReason> {
    if (abort?.aborted) return Promise.resolve("timeout");
    const sub = this.subscribe(instanceId, timeoutMs);
    if (abort === undefined) return sub.woken;
    const onAbort = () => sub.cancel();
    abort.addEventListener("abort", onAbort, { once: true });
    return sub.woken.finally(() => abort.removeEventListener("abort", onAbort));
  }

  subscribe(instanceId: string, timeoutMs: number): Subscription {
    let wake!: Waiter["wake"];
    let carried: TerminalSnapshot | undefined;
    const woken = new Promise<WakeReason>((resolve) => {
      let done = false;
      const waiter: Waiter = {
        since: ++this.clock,
        wake: (reason: WakeReason = "timeout", snapshot?: TerminalSnapshot) => {
          if (done) return;
          done = true;
          carried = snapshot;
          clearTimeout(timer);
          const set = this.waiters.get(instanceId);
          if (set !== undefined) {
            set.delete(waiter);
            if (set.size === 0) this.waiters.delete(instanceId);
          }
          resolve(reason);
        },
      };
      wake = waiter.wake;
      const timer = setTimeout(() => wake("timeout"), Math.max(0, timeoutMs));
      let set = this.waiters.get(instanceId);
      if (set === undefined) this.waiters.set(instanceId, (set = new Set()));
      set.add(waiter);
    });
    return {
      woken,
      get snapshot() {
        return carried;
      },
      cancel: () => wake("timeout"),
    };
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

/**
 * Makes `wrapper` (a provider that forwards to `inner`, e.g. a fault-injecting one) share
 * `inner`'s hub: a runtime on one object and a client on the other still wake each other, and a
 * provider that signals terminal states (its `terminalWakeups` capability) wakes waiters on either.
 */
export function shareInstanceSignals(wrapper: Provider, inner: Provider): void {
  if (wrapper === inner) return;
  const hub = instanceSignals(inner) as InstanceSignalHub;
  hubs.set(wrapper, hub);
}
