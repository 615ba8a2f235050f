/**
 * What each outstanding orchestration lock's fetch saw (instance existed, current execution, name,
 * version), so its ack can skip writes that would change nothing. Entries of locks that were never
 * acked or abandoned (expired) are dropped oldest first past a bound.
 */

export interface FetchedLock {
  instance: string;
  executionId: number;
  /** The instance row existed at fetch, with `executionId` as its current execution. */
  existed: boolean;
  name: string | null;
  version: string | null;
}

const FETCHED_LOCKS_MAX = 10_000;

export class FetchedLocks {
  private readonly byToken = new Map<string, FetchedLock>();

  remember(lockToken: string, lock: FetchedLock): void {
    if (this.byToken.size >= FETCHED_LOCKS_MAX) this.byToken.delete(this.byToken.keys().next().value!);
    this.byToken.set(lockToken, lock);
  }

  /**
   * What the lock's fetch saw, when it saw `instance` already created with `executionId` as its
   * current execution (every turn but an execution's first); undefined otherwise.
   */
  sawCurrent(lockToken: string, instance: string, executionId: number): FetchedLock | undefined {
    const seen = this.byToken.get(lockToken);
    return seen !== undefined && seen.existed && seen.instance === instance && seen.executionId === executionId ? seen : undefined;
  }

  /** Drops the lock's entry once it is acked or abandoned. */
  forget(lockToken: string): void {
    this.byToken.delete(lockToken);
  }
}
