/**
 * Starts committed together with their first turn (docs/provider-contract.md §16.4, "A start
 * committed with its first turn").
 *
 * When an orchestrator fetch of this process is idle, a StartOrchestration enqueued through this
 * provider is not written at all: the fetch is handed a batch made here (the start message, no
 * history) under a lock token that names no row, and the turn's ack writes the start's effects
 * (instance, history, activities) in one transaction, start_ack_orch, which first takes the
 * instance's lock and checks that the instance is new: no instance row, no history, no queued
 * message. The enqueue's caller is answered once that transaction committed. One durable commit
 * and one round trip fewer between a start and its first activity.
 *
 * The caller must not wait on the turn for long (code that awaits the enqueue before it acks the
 * batch it fetched would wait forever): a start not committed within FUSED_START_HOLD_MS of the
 * hand-over is written the ordinary way instead, already claimed under the token the fetch holds
 * (`hold_start`: the start's queue row locked by that token, and the instance's lock row), and its
 * caller is answered; from then on the token is an ordinary lock and its ack an ordinary ack.
 *
 * Until then the held start's lock lives here: the fetch's lock timeout from the hand-over,
 * extended by renewOrchestrationItemLock. Nothing is stored, so nobody else can see the instance.
 * Whenever the start cannot be committed with its turn it goes through the queue as a plain
 * enqueue (the fall-back), its caller is answered then, and the turn made from the handed batch is
 * dropped: its token names no lock, so its ack, renewal or abandon fails with LockLost as for a
 * lapsed lock, and a fetch delivers the queued start. That happens when:
 * - the instance is not new (a second start, an event raised before the start, another process
 *   starting it at the same moment): start_ack_orch raises DXS01, or hold_start takes no lock;
 * - the held lock lapses (an ack later than the lock timeout after the hand-over or the last
 *   renewal: a turn whose synchronous code outran it);
 * - the runtime abandons the batch (the start is queued with the abandon's delay);
 * - the provider closes first.
 * A start is never lost: until one of these writes committed, the caller is not answered.
 */
import type { WorkItemOf } from "../../core/work-items.ts";

/** Longest a start waits to be committed with its first turn before it is written alone, ms. */
export const FUSED_START_HOLD_MS = 100;

/** Lock tokens of handed starts: no stored token has this form (stored ones are UUIDs or "id.uuid"). */
const TOKEN_PREFIX = "start:";

export interface HeldStart {
  token: string;
  instance: string;
  item: WorkItemOf<"StartOrchestration">;
  /** The start's stored text, for the fall-back enqueue. */
  text: string;
  /** The lock timeout of the fetch it was handed to. */
  lockMs: number;
}

interface Entry {
  start: HeldStart;
  answer: (err?: unknown) => void;
  /** performance.now() when the held lock lapses. */
  lapsesAt: number;
  /** performance.now() when the hold ends (the start is then written alone). */
  holdEndsAt: number;
  /** Ends the hold (or the lock); null while an ack is being written. */
  timer: ReturnType<typeof setTimeout> | null;
}

export class FusedStarts {
  private readonly held = new Map<string, Entry>();
  /** Fall-backs under way (close() waits for them). */
  private readonly fallingBack = new Set<Promise<void>>();

  /** Starts being written alone, claimed under their token (see claimAlone). */
  private readonly claiming = new Map<string, Promise<void>>();

  constructor(
    /** Queues a start the ordinary way (durable), visible after `delayMs`. */
    private readonly enqueue: (start: HeldStart, delayMs: number) => Promise<void>,
    /** Writes a start claimed under its token for `lockMs` more (durable); a plain enqueue when the instance is not new. */
    private readonly claimAlone: (start: HeldStart, lockMs: number) => Promise<void>,
    private readonly holdMs = FUSED_START_HOLD_MS,
  ) {}

  /** Whether `token` is one of the tokens this class hands out (held or not any more). */
  static isStartToken(token: string): boolean {
    return token.startsWith(TOKEN_PREFIX);
  }

  /** Holds a start for a fetch; the promise answers the enqueue's caller. */
  hold(instance: string, item: WorkItemOf<"StartOrchestration">, text: string, lockMs: number): { start: HeldStart; answered: Promise<void> } {
    const start: HeldStart = { token: TOKEN_PREFIX + crypto.randomUUID(), instance, item, text, lockMs };
    const answered = new Promise<void>((resolve, reject) => {
      const now = performance.now();
      const entry: Entry = { start, answer: (err) => (err === undefined ? resolve() : reject(err)), lapsesAt: now + lockMs, holdEndsAt: now + this.holdMs, timer: null };
      this.held.set(start.token, entry);
      this.arm(entry);
    });
    return { start, answered };
  }

  /** The held start of `token`; undefined once it was committed, written alone, or queued. */
  get(token: string): HeldStart | undefined {
    return this.held.get(token)?.start;
  }

  /** Resolves once a start being written alone under `token` is written (at once when none is). */
  async written(token: string): Promise<void> {
    await this.claiming.get(token)?.catch(() => {});
  }

  /** Extends a held start's lock by `extendForMs` from now; false when it is not held (any more). */
  renew(token: string, extendForMs: number): boolean {
    const e = this.held.get(token);
    if (e === undefined) return false;
    e.lapsesAt = performance.now() + extendForMs;
    if (e.timer !== null) {
      clearTimeout(e.timer);
      this.arm(e);
    }
    return true;
  }

  /**
   * The ack is about to be written: true when the start is held and its lock has not lapsed (the
   * lapse then waits for the ack's outcome); false when it is not held, or lapsed (it is then sent
   * through the queue: `fallBack`'s promise is what the caller awaits before failing the ack).
   */
  acking(token: string): boolean {
    const e = this.held.get(token);
    if (e === undefined) return false;
    if (performance.now() > e.lapsesAt) return false;
    if (e.timer !== null) clearTimeout(e.timer);
    e.timer = null;
    return true;
  }

  /** The ack failed without deciding anything (a retry may follow): the lapse is watched again. */
  ackFailed(token: string): void {
    const e = this.held.get(token);
    if (e !== undefined && e.timer === null) this.arm(e);
  }

  /** The fused transaction committed: the caller is answered. */
  committed(token: string): void {
    const e = this.held.get(token);
    if (e === undefined) return;
    this.held.delete(token);
    if (e.timer !== null) clearTimeout(e.timer);
    e.answer();
  }

  /** Sends the start through the queue (after `delayMs`) and answers the caller when that committed. */
  fallBack(token: string, delayMs = 0): Promise<void> {
    const e = this.held.get(token);
    if (e === undefined) return Promise.resolve();
    this.held.delete(token);
    if (e.timer !== null) clearTimeout(e.timer);
    const p = this.enqueue(e.start, delayMs).then(
      () => e.answer(),
      (err) => e.answer(err),
    );
    this.fallingBack.add(p);
    void p.finally(() => this.fallingBack.delete(p));
    return p;
  }

  /** Every held start through the queue, and every write of a start finished (close). */
  async drain(): Promise<void> {
    await Promise.all([...this.held.keys()].map((t) => this.fallBack(t)));
    await Promise.all([...this.fallingBack, ...[...this.claiming.values()].map((p) => p.catch(() => {}))]);
  }

  get size(): number {
    return this.held.size;
  }

  /** Watches the earlier of the hold's end (write the start alone) and the lock's lapse (queue it). */
  private arm(e: Entry): void {
    const at = Math.min(e.holdEndsAt, e.lapsesAt);
    e.timer = setTimeout(() => {
      e.timer = null;
      const now = performance.now();
      if (now >= e.lapsesAt) void this.fallBack(e.start.token);
      else this.writeAlone(e, e.lapsesAt - now);
    }, Math.max(0, Math.ceil(at - performance.now())));
  }

  /** The hold ended first: the start is written claimed under its token, and its caller answered. */
  private writeAlone(e: Entry, lockMs: number): void {
    const token = e.start.token;
    this.held.delete(token);
    const p = this.claimAlone(e.start, Math.ceil(lockMs));
    this.claiming.set(token, p);
    p.then(
      () => e.answer(),
      (err) => e.answer(err),
    ).finally(() => this.claiming.delete(token));
  }
}
