/**
 * Starts committed together with their first turn (docs/provider-contract.md §16.4, "A start
 * committed with its first turn").
 *
 * When an orchestrator fetch of this process is idle, a StartOrchestration enqueued through this
 * provider is not written at all: the fetch is handed a batch made here (the start message, no
 * history) under a lock token that names no row, and the turn's ack writes the start's effects
 * (instance, history, activities) in one transaction, start_ack_orch, which first takes the
 * instance's lock and checks that the instance is new and nothing waits for it: no instance row,
 * no history, no queued start, no visible message. The enqueue's caller is answered once that
 * transaction committed. One durable commit
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
 * - the instance is not new (it has history or an instance row, or a start is already queued for
 *   it, which must win as it would in one batch; another process starting it at the same moment),
 *   or a visible message waits for it (an event raised before the start committed: it belongs in
 *   the start's batch, where a fetch would have put it, and the first turn must see it):
 *   start_ack_orch raises DXS01, or hold_start takes no lock. A message not visible yet (one a
 *   fetch met before the start and put back for a second) is left for a later turn, as a fetch
 *   would leave it;
 * - the held lock lapses (an ack later than the lock timeout after the hand-over or the last
 *   renewal: a turn whose synchronous code outran it); its delivery counts as an attempt, as for
 *   a stored batch whose lock lapsed;
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
  /** An ack being written: settles when its outcome was handled (close() waits for it). */
  acking: Promise<void> | null;
  endAck: () => void;
  /**
   * The first event of an ack that failed without an answer (a connection cut): if the instance's
   * history holds it, that ack committed after all, and nothing may be written for this start again.
   */
  uncertain: string | null;
}

/** The longest close() waits for an ack being written before it queues that start anyway. */
const CLOSE_WAIT_MS = 5_000;

export class FusedStarts {
  private readonly held = new Map<string, Entry>();
  /** Fall-backs under way (close() waits for them). */
  private readonly fallingBack = new Set<Promise<void>>();
  /** Starts being written alone, claimed under their token (see claimAlone). */
  private readonly claiming = new Map<string, Promise<void>>();

  constructor(
    /** Queues a start the ordinary way (durable), visible after `delayMs`; `counted`: its held delivery counts as an attempt. */
    private readonly enqueue: (start: HeldStart, delayMs: number, counted: boolean) => Promise<void>,
    /** Writes a start claimed under its token for `lockMs` more (durable); a plain enqueue when the instance is not new. */
    private readonly claimAlone: (start: HeldStart, lockMs: number) => Promise<void>,
    /** Whether the instance's stored first event is `firstEvent`: an ack of this start committed. */
    private readonly landed: (start: HeldStart, firstEvent: string) => Promise<boolean>,
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
      const entry: Entry = {
        start,
        answer: (err) => (err === undefined ? resolve() : reject(err)),
        lapsesAt: now + lockMs,
        holdEndsAt: now + this.holdMs,
        timer: null,
        acking: null,
        endAck: () => {},
        uncertain: null,
      };
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

  /**
   * Extends a held start's lock by `extendForMs` from now; false when it is not held (any more) or
   * its lock already lapsed (the event loop was blocked past it: it is queued now, as a lapse does).
   */
  renew(token: string, extendForMs: number): boolean {
    const e = this.held.get(token);
    if (e === undefined) return false;
    // While an ack is being written its outcome decides (start_ack_orch takes the lock itself).
    if (performance.now() > e.lapsesAt && e.acking === null) {
      void this.fallBack(token, 0, true);
      return false;
    }
    e.lapsesAt = performance.now() + extendForMs;
    if (e.timer !== null) {
      clearTimeout(e.timer);
      this.arm(e);
    }
    return true;
  }

  /**
   * An ack is about to be written: true when the start is held and its lock has not lapsed (the
   * hold then waits for the ack's outcome); false when it is not held, or lapsed (the caller then
   * queues it with `fallBack` and fails the ack).
   */
  beginAck(token: string): boolean {
    const e = this.held.get(token);
    if (e === undefined || performance.now() > e.lapsesAt) return false;
    if (e.timer !== null) clearTimeout(e.timer);
    e.timer = null;
    e.acking = new Promise<void>((resolve) => (e.endAck = resolve));
    return true;
  }

  /** The fused transaction committed: the caller is answered. */
  committed(token: string): void {
    const e = this.held.get(token);
    if (e === undefined) return;
    this.held.delete(token);
    if (e.timer !== null) clearTimeout(e.timer);
    e.endAck();
    e.answer();
  }

  /**
   * The ack failed without an answer about the start (a connection cut; `firstEvent` is the first
   * event it wrote): it may have committed. A retry may follow; until then the hold and the lock are
   * watched again, and whatever is written for this start later first looks whether it did.
   */
  ackFailed(token: string, firstEvent: string | null): void {
    const e = this.held.get(token);
    if (e === undefined) return;
    e.uncertain ??= firstEvent;
    e.endAck();
    e.acking = null;
    if (e.timer === null) this.arm(e);
  }

  /**
   * The instance is not new (start_ack_orch refused): either an earlier try of this very ack
   * committed (its answer was lost: the start is done, "landed"), or the start goes through the
   * queue ("queued").
   */
  async notNew(token: string): Promise<"landed" | "queued"> {
    const e = this.held.get(token);
    if (e !== undefined && e.uncertain !== null && (await this.landed(e.start, e.uncertain).catch(() => false))) {
      this.committed(token);
      return "landed";
    }
    await this.fallBack(token);
    return "queued";
  }

  /**
   * Sends the start through the queue (after `delayMs`; `counted`: its held delivery counts as an
   * attempt) and answers the caller when that committed. A start whose ack may have committed is
   * looked for first: if it did, nothing is written.
   */
  fallBack(token: string, delayMs = 0, counted = false): Promise<void> {
    const e = this.held.get(token);
    if (e === undefined) return Promise.resolve();
    this.held.delete(token);
    if (e.timer !== null) clearTimeout(e.timer);
    e.endAck();
    const p = (async () => {
      if (await this.committedAfterAll(e)) return;
      await this.enqueue(e.start, delayMs, counted);
    })().then(
      () => e.answer(),
      (err) => e.answer(err),
    );
    this.fallingBack.add(p);
    void p.finally(() => this.fallingBack.delete(p));
    return p;
  }

  /** Every held start through the queue (an ack being written is waited for first, at most CLOSE_WAIT_MS), and every write of a start finished (close). */
  async drain(): Promise<void> {
    const acks = [...this.held.values()].map((e) => e.acking).filter((a): a is Promise<void> => a !== null);
    if (acks.length > 0) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([Promise.all(acks), new Promise<void>((r) => (timer = setTimeout(r, CLOSE_WAIT_MS)))]);
      clearTimeout(timer);
    }
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
      if (now >= e.lapsesAt) void this.fallBack(e.start.token, 0, true);
      else this.writeAlone(e, e.lapsesAt - now);
    }, Math.max(0, Math.ceil(at - performance.now())));
  }

  /**
   * Writes a held start alone now, claimed under its token (an ack that cannot be fused: see
   * PostgresProvider.ackOrchestrationItem); resolves when that is done. False when it is not held
   * or its lock lapsed (it is then queued, counted, as a lapse does).
   */
  async writeNow(token: string): Promise<boolean> {
    const e = this.held.get(token);
    if (e === undefined) return false;
    if (e.timer !== null) clearTimeout(e.timer);
    e.timer = null;
    const now = performance.now();
    if (now > e.lapsesAt) {
      await this.fallBack(token, 0, true);
      return false;
    }
    this.writeAlone(e, e.lapsesAt - now);
    await this.written(token);
    return true;
  }

  /** The hold ended first: the start is written claimed under its token, and its caller answered. */
  private writeAlone(e: Entry, lockMs: number): void {
    const token = e.start.token;
    this.held.delete(token);
    const p = (async () => {
      if (await this.committedAfterAll(e)) return;
      await this.claimAlone(e.start, Math.ceil(lockMs));
    })();
    this.claiming.set(token, p);
    p.then(
      () => e.answer(),
      (err) => e.answer(err),
    ).finally(() => this.claiming.delete(token));
  }

  /** Whether an ack of this start whose answer was lost committed after all. */
  private async committedAfterAll(e: Entry): Promise<boolean> {
    return e.uncertain !== null && (await this.landed(e.start, e.uncertain));
  }
}
