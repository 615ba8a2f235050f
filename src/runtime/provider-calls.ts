/**
 * The runtime's own view of its provider: every storage call a runtime makes goes through it, so
 * that shutdown can tell when none is left in flight and refuse any that would start afterwards
 * (docs/runtime-semantics.md §1.9: when `shutdown` resolves the runtime claims and holds nothing).
 *
 * It is a Proxy, not a copy of the contract: a provider's extra methods and optional ones
 * (`releaseSessionLocks`, `capabilities`) stay visible exactly as the provider has them, and the
 * provider's own `this` is used for every call.
 */
import { ProviderError } from "../core/errors.ts";
import { shareInstanceSignals } from "../instance-signals.ts";
import type { Provider } from "../provider.ts";

/** Synchronous identity methods: neither tracked nor refused (they touch no storage). */
const UNTRACKED: ReadonlySet<PropertyKey> = new Set(["name", "version", "capabilities", "asManagementCapability"]);

export class ProviderCalls {
  /** The tracked provider the dispatchers use. */
  readonly provider: Provider;
  /** Calls in flight by method name, and in all (counts, not a set of promises: this is per call). */
  private readonly inFlight = new Map<string, number>();
  private inFlightTotal = 0;
  /** One settle callback per method name, made once (no closure per call). */
  private readonly settlers = new Map<string, () => void>();
  private closed = false;
  private idle: (() => void) | null = null;

  constructor(readonly inner: Provider) {
    const wrapped = new Map<PropertyKey, unknown>();
    this.provider = new Proxy(inner, {
      get: (target, prop) => {
        const value = Reflect.get(target, prop, target) as unknown;
        if (typeof value !== "function" || UNTRACKED.has(prop) || typeof prop === "symbol") {
          return typeof value === "function" ? value.bind(target) : value;
        }
        let fn = wrapped.get(prop);
        if (fn === undefined) {
          const method = value as (...a: unknown[]) => unknown;
          fn = (...args: unknown[]) => this.call(prop, method, target, args);
          wrapped.set(prop, fn);
        }
        return fn;
      },
    });
    // Clients waiting on the user's provider object are woken by turns committed through this one.
    shareInstanceSignals(this.provider, inner);
  }

  /** Names of the calls still running, e.g. ["fetchWorkItem", "ackOrchestrationItem"]. */
  pending(): string[] {
    const names: string[] = [];
    for (const [op, n] of this.inFlight) for (let i = 0; i < n; i++) names.push(op);
    return names;
  }

  /** From now on every call is refused with a Closed ProviderError, without reaching the provider. */
  close(): void {
    this.closed = true;
  }

  /** Resolves once no call is in flight (at once when none is). */
  drained(): Promise<void> {
    if (this.inFlightTotal === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const previous = this.idle;
      this.idle = () => {
        previous?.();
        resolve();
      };
    });
  }

  private call(op: string, method: (...a: unknown[]) => unknown, target: Provider, args: unknown[]): unknown {
    if (this.closed) {
      return Promise.reject(
        ProviderError.closed(`${op} (this runtime has shut down; a stopped runtime makes no provider calls)`),
      );
    }
    const result = method.apply(target, args);
    if (!(result instanceof Promise)) return result;
    this.inFlight.set(op, (this.inFlight.get(op) ?? 0) + 1);
    this.inFlightTotal++;
    let settle = this.settlers.get(op);
    if (settle === undefined) this.settlers.set(op, (settle = () => this.settled(op)));
    // The caller sees the provider's own outcome; this side chain only counts (both handlers are
    // given, so a rejection is never unhandled here).
    result.then(settle, settle);
    return result;
  }

  private settled(op: string): void {
    const n = (this.inFlight.get(op) ?? 1) - 1;
    if (n <= 0) this.inFlight.delete(op);
    else this.inFlight.set(op, n);
    this.inFlightTotal--;
    if (this.inFlightTotal === 0 && this.idle !== null) {
      const wake = this.idle;
      this.idle = null;
      wake();
    }
  }
}
