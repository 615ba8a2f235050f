/**
 * PostgresProvider: the scale-out Provider on PostgreSQL through Bun.SQL (the `duroxide/postgres`
 * entry). Many runtime processes on many machines share one database (docs/provider-contract.md
 * §16).
 *
 * Each hot-path method is one call of a server-side function installed by the migrations: one
 * round trip, one transaction. Lock expiry and visibility are decided by the database's clock.
 * Claims never double-deliver: an instance is locked by a row in `instance_locks` taken under a
 * transaction advisory lock (a fetch that loses a race skips that instance and keeps looking);
 * work items are claimed with `FOR UPDATE SKIP LOCKED`. After committing new work the provider
 * NOTIFYs the schema's channel, so an idle fetch in any process wakes within milliseconds; a slow
 * fallback poll covers notifications lost while the listening connection was down.
 *
 * This class is the contract's surface: argument checks, decoding, long polling and wake-ups.
 * The SQL lives in ./postgres/schema.ts; options, migrations, error mapping, the listener and
 * the management capability in ./postgres/.
 */
import { SQL } from "bun";
import { ProviderError } from "../core/errors.ts";
import { decodeEvent, type Event } from "../core/events.ts";
import type {
  DispatcherCapabilityFilter,
  ExecutionMetadata,
  FetchedOrchestration,
  FetchedWorkItem,
  KvEntry,
  ScheduledActivityIdentifier,
  SessionFetchConfig,
  TagFilter,
} from "../core/queue-types.ts";
import { decodeWorkItem, workItemInstance, type WorkItem } from "../core/work-items.ts";
import { isTerminalStatus } from "../core/status.ts";
import { instanceSignals } from "../instance-signals.ts";
import type { Provider, ProviderAdmin, ProviderCapabilities } from "../provider.ts";
import type { ProviderFactory } from "../provider-tests/harness.ts";
import { PostgresProviderAdmin } from "./postgres/admin.ts";
import { Announcer } from "./postgres/announcer.ts";
import { presenceKey } from "./postgres/presence.ts";
import { ClaimedAhead, claimAheadLockMs } from "./postgres/claimed-ahead.ts";
import { HeldTurns } from "./postgres/held-turns.ts";
import { Batcher, type Outcome } from "./postgres/batcher.ts";
import { HISTORY_TAIL, HistoryTails } from "./postgres/history-tail.ts";
import { isNotNewInstance, postgresError, sqlState } from "./postgres/errors.ts";
import { FlushWatch } from "./postgres/flush-watch.ts";
import { FusedStarts, type HeldStart } from "./postgres/fused-starts.ts";
import { Listener } from "./postgres/listener.ts";
import { ParkedFetches, type ParkedFetch } from "./postgres/parked-fetches.ts";
import { bigintList, PackedTexts, packSql, unpackSql, unpackTexts, wire } from "./postgres/packed-texts.ts";
import { checkStorable } from "./postgres/storable.ts";
import { migrate } from "./postgres/migrate.ts";
import { channelOf, checkUrl, quoted, resolveOptions, type PostgresProviderOptions, type ResolvedOptions } from "./postgres/options.ts";
import { SCHEMA_VERSION } from "./postgres/schema.ts";
import { decodeText, encodeText } from "./postgres/text-codec.ts";
import { validateProviderInput } from "./validate-args.ts";
import { WakeSignal } from "./wake-signal.ts";

export type { PostgresProviderOptions };
export { SCHEMA_VERSION as POSTGRES_SCHEMA_VERSION };

const PROVIDER_VERSION = "0.1.0";

type Row = Record<string, unknown>;

interface Attempt<T> {
  found: T | null;
  /** ms until the queue's next message becomes visible (server clock), null when none is pending. */
  nextDueMs: number | null;
}

/** A worker ack as ack_work_many takes it (null completion fields: acked without a completion). */
interface WorkAck {
  token: string;
  instance: string | null;
  kind: string | null;
  item: string | null;
}

/** One durable write: a statement of the hot path and its parameters. */
interface Write {
  op: string;
  text: string;
  params: unknown[];
}

/** Most writes one transaction carries. */
const MAX_WRITE_BATCH = 32;

/** Most acks one ack_work_many call carries (bounds one transaction's work and its parameters). */
const MAX_ACK_BATCH = 64;

const TAG_MODES = { DefaultOnly: "default", Tags: "tags", DefaultAnd: "default_and", Any: "any" } as const;

/**
 * How long an empty look is trusted by later fetches (see poll): what it cannot see (a lock taken
 * after it by a process that then died, a session released elsewhere) is noticed within this.
 */
const TRUST_EMPTY_LOOK_MS = 1_000;

const ABORTED = Symbol("aborted");

/** `p`, or ABORTED as soon as `abort` fires (at once when it already has). */
function untilAborted<T>(p: Promise<T>, abort: AbortSignal | null | undefined): Promise<T | typeof ABORTED> {
  if (abort === null || abort === undefined) return p;
  if (abort.aborted) return Promise.resolve(ABORTED);
  return new Promise((resolve, reject) => {
    const onAbort = () => resolve(ABORTED);
    abort.addEventListener("abort", onAbort, { once: true });
    p.then(
      (v) => {
        abort.removeEventListener("abort", onAbort);
        resolve(v);
      },
      (e) => {
        abort.removeEventListener("abort", onAbort);
        reject(e);
      },
    );
  });
}

function num(v: unknown): number | null {
  return v === null || v === undefined ? null : Number(v);
}

/**
 * State is TypeScript-private rather than `#private`, so wrappers that call the methods with
 * another `this` (a Proxy, an `Object.create(provider)` spy) keep working.
 */
export class PostgresProvider implements Provider {
  private readonly q: string;
  private readonly sqlText: ReturnType<typeof statements>;
  private readonly listener: Listener | null;
  private readonly announcer: Announcer;
  /** One idle fetch woken per message and filter, not all of them (see wake-signal.ts). */
  private readonly orchestratorWork = new WakeSignal("one");
  private readonly workerWork = new WakeSignal("one");
  /** Idle fetches that this process's writes can hand their work to (see parked-fetches.ts). */
  private readonly parkedOrch = new ParkedFetches<Row>();
  private readonly parkedWork = new ParkedFetches<Row>();
  /** Activities a turn's ack claimed for this process's busy worker fetches (see claimed-ahead.ts). */
  private readonly claimedAhead: ClaimedAhead<Row>;
  /** Instances this process holds orchestrator locks on: its fetches pass over them (see held-turns.ts). */
  private readonly heldTurns = new HeldTurns();
  /** The filter and lock timeout of the last worker fetch: what claiming ahead claims for. */
  private aheadFor: AheadFor | null = null;
  /** Acks claiming ahead that have not landed yet, and give-backs under way (close() waits for both). */
  private readonly claimsInFlight = new Set<Promise<unknown>>();
  private readonly givingBack = new Set<Promise<unknown>>();
  /** Worker acks committed before their flush, waiting for a durable commit to cover them (see flush-watch.ts). */
  private readonly flushWatch = new FlushWatch(() => this.flushWal());
  /** Whether the flush emits a WAL message (false once the role was refused it: a no-op update then). */
  private flushByMessage = true;
  /** Starts handed to idle orchestrator fetches, to be committed with their first turn (see fused-starts.ts). */
  private readonly fusedStarts = new FusedStarts(
    (start, delayMs, counted) => this.queueStart(start, delayMs, counted),
    (start, lockMs) => this.writeStartAlone(start, lockMs),
    (start, firstEvent) => this.startLanded(start, firstEvent),
  );
  /**
   * Per queue and fetch group, the last look that found nothing: the generation it began at and
   * until when its answer holds (TRUST_EMPTY_LOOK_MS, or sooner: the fallback poll interval, the
   * next due time it reported).
   */
  private readonly emptyLooks = new Map<WakeSignal, Map<string, { generation: number; until: number }>>([
    [this.orchestratorWork, new Map()],
    [this.workerWork, new Map()],
  ]);
  /** The earliest pending timed wake-up per queue (delayed work announced by a notification). */
  private readonly timedWakes = new Map<WakeSignal, { at: number; timer: ReturnType<typeof setTimeout> }>();
  private readonly admin: PostgresProviderAdmin;
  /** Decoded histories of long-running instances, so a fetch reads only their tail (§16.7). */
  private readonly historyTails = new HistoryTails();
  /** The admin as callers get it: every argument checked by checkStorable first. */
  private readonly checkedAdmin: ProviderAdmin;
  private closed = false;
  private closing: Promise<void> | null = null;
  /** Tags this provider's announcements, so that its own listener skips them. */
  private readonly sender = crypto.randomUUID().slice(0, 8);
  /** Worker acks made while others commit go together (group commit: one transaction per batch). */
  /** Durable writes made while another batch commits go together (see write()). */
  private readonly writes = new Batcher<Write, Row[]>((batch) => this.sendWrites(batch), MAX_WRITE_BATCH);
  /** Each ack's outcome is its durability: at once, or a promise (see sendWorkAcks), which its caller awaits. */
  private readonly workAcks = new Batcher<WorkAck, Promise<void> | undefined>((acks) => this.sendWorkAcks(acks), MAX_ACK_BATCH);

  private constructor(
    private readonly sql: SQL,
    url: string,
    private readonly options: ResolvedOptions,
  ) {
    this.q = quoted(options.schema);
    this.sqlText = statements(this.q);
    this.admin = new PostgresProviderAdmin(sql, options.schema, () => this.closed);
    this.checkedAdmin = withStorableArguments(this.admin);
    this.claimedAhead = new ClaimedAhead<Row>(options.workerClaimAhead, (row) => this.releaseClaimedAhead(row));
    // Without a listener this provider cannot hear who else listens: it always announces.
    this.announcer = new Announcer(sql, channelOf(options.schema), this.sender, () => this.listener?.presence.othersListening ?? true);
    this.listener = options.listen
      ? new Listener(url, channelOf(options.schema), {
          orchestrator: (ms) => this.wakeIn(this.orchestratorWork, ms),
          worker: (ms) => this.wakeIn(this.workerWork, ms),
          terminal: (instance) => instanceSignals(this).notify(instance, true),
          all: () => {
            this.orchestratorWork.notify();
            this.workerWork.notify();
            instanceSignals(this).notifyAll();
          },
          joined: (newcomer) => this.announcer.announce(`a${newcomer ?? ""}`, true),
        }, options.connectTimeoutSeconds, this.sender, presenceKey(options.schema))
      : null;
  }

  /**
   * Connects, applies pending migrations (safe when many processes start at once), refuses a
   * schema newer than this code, and starts listening for other processes' work.
   */
  static async connect(url: string, options: PostgresProviderOptions = {}): Promise<PostgresProvider> {
    checkUrl(url);
    const o = resolveOptions(options);
    const sql = new SQL(url, { max: o.poolMax, idleTimeout: o.idleTimeoutSeconds, connectionTimeout: o.connectTimeoutSeconds });
    try {
      await migrate(sql, o.schema, o.migrate);
    } catch (err) {
      await sql.close({ timeout: 1 }).catch(() => {});
      throw postgresError("PostgresProvider.connect", err);
    }
    const provider = new PostgresProvider(sql, url, o);
    try {
      await provider.listener?.start();
    } catch (err) {
      await provider.close();
      throw postgresError("PostgresProvider.connect", err);
    }
    return provider;
  }

  /** Drops a schema and everything in it (for tests and throw-away stress runs). */
  static async dropSchema(url: string, schema: string): Promise<void> {
    checkUrl(url);
    const { schema: name } = resolveOptions({ schema });
    const sql = new SQL(url, { max: 1 });
    try {
      await sql.unsafe(`DROP SCHEMA IF EXISTS ${quoted(name)} CASCADE`);
    } catch (err) {
      throw postgresError("PostgresProvider.dropSchema", err);
    } finally {
      await sql.close({ timeout: 1 }).catch(() => {});
    }
  }

  name(): string {
    return "postgres";
  }

  version(): string {
    return PROVIDER_VERSION;
  }

  /** The schema this provider works in. */
  get schema(): string {
    return this.options.schema;
  }

  /** Releases the pool and the listening connection; fetches waiting in a long poll return null. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.closed = true;
      this.orchestratorWork.wakeAll();
      this.workerWork.wakeAll();
      for (const { timer } of this.timedWakes.values()) clearTimeout(timer);
      this.timedWakes.clear();
      // What is held goes back now; a claim ahead still being written gives its items back itself
      // when it lands (it sees closed), waited for up to CLOSE_WAIT_MS (a write stuck on a lock
      // must not hold close() forever: what it claims then stays locked until its lease ends).
      // Held starts through the queue (their callers wait for that).
      await this.fusedStarts.drain();
      const early = this.giveBack(this.claimedAhead.drain());
      await settledWithin([...this.claimsInFlight], CLOSE_WAIT_MS);
      await early;
      await this.giveBack(this.claimedAhead.drain());
      await settledWithin([...this.givingBack], CLOSE_WAIT_MS);
      // Acks committed before their flush are made durable, and their callers answered (bounded
      // like the waits above: a flush stuck behind a lock must not hold close() forever; its
      // waiters are then answered when it ends, or failed as the pool closes).
      await settledWithin([this.flushWatch.flushNow()], CLOSE_WAIT_MS);
      // The listener first: an answer to a hello it heard is still sent by the announcer.
      await this.listener?.close();
      await this.announcer.close();
      await this.sql.close({ timeout: 5 }).catch(() => {});
    })();
    return this.closing;
  }

  /**
   * Gives back an item claimed ahead that was not taken in time: like any abandon (claimable again
   * at once, its attempt not counted, announced, this process's fetches woken), or, once closing,
   * straight on the pool (abandonWorkItem refuses then). close() waits for these.
   */
  private releaseClaimedAhead(row: Row): void {
    const p = (this.closed ? this.giveBack([row]) : this.abandonWorkItem(row.o_token as string, 0, true)).catch(() => {});
    this.givingBack.add(p);
    void p.finally(() => this.givingBack.delete(p));
  }

  /** Gives claimed-ahead rows back to the queue while closing (abandonWorkItem refuses once closed). */
  private async giveBack(rows: Row[]): Promise<void> {
    await Promise.all(rows.map((r) => this.sql.unsafe(this.sqlText.abandonWork, [r.o_token, 0, true]).catch(() => {})));
  }

  private async call(op: string, text: string, params: unknown[]): Promise<Row[]> {
    if (this.closed) throw ProviderError.closed(op);
    checkStorable(op, params);
    try {
      return (await this.sql.unsafe(text, wire(params))) as Row[];
    } catch (err) {
      if (this.closed) throw ProviderError.closed(op);
      throw postgresError(op, err);
    }
  }

  /**
   * A write that records work (an enqueue, a turn's ack): durable, so its commit waits for the WAL
   * flush. Writes made while another batch commits join the next batch: one transaction, one
   * flush for all of them (their statements pipelined on one connection). Each write is still
   * all-or-nothing on its own: when one fails (a lost lock) the batch rolls back and every write
   * runs again alone, so the failing one fails and the others commit. No promise resolves before
   * the commit that made its write durable.
   */
  private write(op: string, text: string, params: unknown[]): Promise<Row[]> {
    if (this.closed) return Promise.reject(ProviderError.closed(op));
    try {
      checkStorable(op, params);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.writes.submit({ op, text, params });
  }

  private async sendWrites(batch: Write[]): Promise<Outcome<Row[]>[]> {
    const submittedAt = performance.now();
    const outcomes = await this.commitWrites(batch);
    // A durable commit: every ack that committed before it is durable too (see flush-watch.ts).
    if (outcomes.some((o) => o.ok)) this.flushWatch.covered(submittedAt);
    return outcomes;
  }

  private async commitWrites(batch: Write[]): Promise<Outcome<Row[]>[]> {
    const alone = (w: Write) => this.call(w.op, w.text, w.params).then(
      (rows): Outcome<Row[]> => ({ ok: true, value: rows }),
      (error): Outcome<Row[]> => ({ ok: false, error }),
    );
    if (batch.length === 1) return [await alone(batch[0]!)];
    if (this.closed) return batch.map((w) => ({ ok: false, error: ProviderError.closed(w.op) }));
    let statementFailed = false;
    try {
      const results = await this.sql.begin(async (tx) => {
        const settled = await Promise.allSettled(batch.map((w) => tx.unsafe(w.text, wire(w.params))));
        if (settled.some((r) => r.status === "rejected")) {
          statementFailed = true;
          throw new Error("a write of the batch failed: rolled back, each write runs alone");
        }
        return settled.map((r) => (r as PromiseFulfilledResult<Row[]>).value);
      });
      return results.map((rows) => ({ ok: true, value: rows as Row[] }));
    } catch (err) {
      // Nothing of the batch committed: either a statement failed (run each alone to isolate it,
      // one after another in request order, as the batch would have applied them) or the
      // connection did (every write fails as its own call would have).
      if (statementFailed) {
        const out: Outcome<Row[]>[] = [];
        for (const w of batch) out.push(await alone(w));
        return out;
      }
      return batch.map((w) => ({ ok: false, error: this.closed ? ProviderError.closed(w.op) : postgresError(w.op, err) }));
    }
  }

  /** Wakes `signal`'s waiters now, or when delayed work becomes visible (one timer per queue, the earliest). */
  private wakeIn(signal: WakeSignal, delayMs: number): void {
    if (delayMs <= 0) return signal.notify();
    if (this.closed) return;
    const at = performance.now() + delayMs;
    const pending = this.timedWakes.get(signal);
    if (pending !== undefined && pending.at <= at) return;
    if (pending !== undefined) clearTimeout(pending.timer);
    const timer = setTimeout(() => {
      this.timedWakes.delete(signal);
      signal.notify();
    }, Math.min(delayMs + 1, 2 ** 31 - 1));
    (timer as { unref?: () => void }).unref?.();
    this.timedWakes.set(signal, { at, timer });
  }

  /**
   * Runs `attempt` until it finds work or `pollTimeoutMs` has passed, sleeping between attempts
   * until a notification, the next message's visibility time, or the fallback poll interval.
   * While it sleeps it is parked in `parked` with `params`: a write of this process may claim for
   * it and hand it the claim (a row as the fetch function returns it), which `attempt` then takes
   * instead of querying. `release` gives back a claim handed over after the fetch was aborted.
   */
  private async poll<T>(
    pollTimeoutMs: number,
    signal: WakeSignal,
    parked: ParkedFetches<Row>,
    group: string,
    params: unknown[],
    attempt: (handed: Row | undefined) => Promise<Attempt<T>>,
    release: (handed: Row) => Promise<unknown>,
    abort: AbortSignal | null | undefined,
    /** Takes a claim made ahead for this fetch, if one is held (looked at before every look). */
    claimedAhead?: { take(): Row | undefined; more(): boolean },
  ): Promise<T | null> {
    const deadline = performance.now() + pollTimeoutMs;
    const looks = this.emptyLooks.get(signal)!;
    let woken = false;
    let handed: Row | undefined;
    for (let first = true; ; first = false) {
      // An aborted fetch claims nothing (docs/provider-contract.md §3.2). A wake-up it took is
      // handed to the next idle fetch of its group, so that one looks instead.
      if (abort?.aborted) {
        if (woken) signal.passOn(group);
        return null;
      }
      // Taken after the abort check, with no await between: an aborted fetch takes nothing.
      if (handed === undefined && claimedAhead !== undefined) handed = claimedAhead.take();
      const seen = signal.generation;
      let r: Attempt<T>;
      const known = looks.get(group);
      const start = performance.now();
      if (first && handed === undefined && pollTimeoutMs > 0 && this.listener !== null && known !== undefined && known.generation === seen && start < known.until) {
        // The last look of this group found nothing and no work was announced since it began
        // (this process's writes, other processes' notifications and due times all count): park
        // without asking. A notification lost while the listener was down is still covered by
        // the fallback poll, since a parked fetch looks when it wakes.
        r = { found: null, nextDueMs: known.until - start };
      } else {
        try {
          r = await attempt(handed);
        } catch (err) {
          // This fetch took a wake-up and fails without using it: the next idle fetch looks instead.
          if (woken) signal.passOn(group);
          throw err;
        }
        // A claim handed over says nothing of the rest of the queue: the last look still holds.
        if (handed === undefined) {
          if (r.found === null) looks.set(group, { generation: seen, until: start + Math.min(this.options.fallbackPollIntervalMs, TRUST_EMPTY_LOOK_MS, r.nextDueMs ?? Infinity) });
          else looks.delete(group);
        }
      }
      const wasHanded = handed !== undefined;
      handed = undefined;
      if (r.found !== null) {
        // Woken for work and found some: more may be waiting, so wake the next idle fetch. (A
        // write that handed its work over woke the others itself when it made more, see handOver.)
        // More claimed ahead are held (this look claimed them, or a write did and woke one fetch of
        // the group for all of them): wake the next, which takes one without a round trip.
        if ((woken && !wasHanded) || claimedAhead?.more() === true) signal.passOn(group);
        return r.found;
      }
      if (this.closed) return null;
      const now = performance.now();
      if (now >= deadline) return null;
      woken = true;
      if (signal.generation !== seen) continue; // woken while looking: look again now
      // Items claimed ahead landed while this fetch looked (another fetch of this process claimed
      // them, and found no idle fetch to wake): take one rather than sleep beside them.
      if (claimedAhead?.more() === true) continue;
      let wait = Math.min(deadline - now, this.options.fallbackPollIntervalMs);
      if (r.nextDueMs !== null) wait = Math.min(wait, Math.max(r.nextDueMs, 1));
      const spot = parked.park(group, params);
      await signal.wait(wait, abort, group, spot.reservation);
      if (!spot.reserved) {
        parked.leave(spot);
        if (this.closed) return null;
        continue;
      }
      // A write claims for this fetch: take what it hands over, or look again if it got nothing.
      // An abort does not wait for the write: what it claims then is given back when it lands.
      const claim = await untilAborted(spot.handOff, abort);
      if (claim === ABORTED || this.closed || abort?.aborted) {
        // Given back, the work is claimable again: wake an idle fetch for it, as an abandon does.
        const late = claim === ABORTED ? spot.handOff : Promise.resolve(claim);
        void late.then((c) => (c === null ? undefined : release(c))).catch(() => {});
        return null;
      }
      if (claim === null) continue;
      handed = claim;
    }
  }

  // ------------------------------------------------------------------ orchestrator queue

  async enqueueForOrchestrator(item: WorkItem, delayMs?: number | null): Promise<void> {
    const op = "enqueueForOrchestrator";
    const v = validateProviderInput.enqueueForOrchestrator(item, delayMs);
    const params = [workItemInstance(v.item), v.item.type, v.text, v.delayMs];
    // Visible now and a fetch of this process is idle: claim for it in the same transaction.
    const [spot] = v.delayMs === 0 ? this.parkedOrch.reserve(1) : [];
    if (spot !== undefined && v.item.type === "StartOrchestration") {
      // A start: the fetch gets it without a write, and its first turn's ack commits both.
      try {
        if (this.closed) throw ProviderError.closed(op);
        checkStorable(op, params);
      } catch (err) {
        spot.settle(null);
        throw err;
      }
      const { start, answered } = this.fusedStarts.hold(params[0] as string, v.item, v.text, Number(spot.params[0]));
      spot.settle({ o_token: start.token, o_start: true });
      return answered;
    }
    if (spot === undefined) {
      await this.write(op, this.sqlText.enqueueOrch, params);
    } else {
      try {
        const claim = (await this.write(op, this.sqlText.enqueueOrchClaim, [...params, ...spot.params]))[0]!;
        if (this.handOver(spot, claim, this.orchestratorWork, claim.o_instance === params[0])) {
          this.announcer.announce("o");
          return;
        }
      } finally {
        spot.settle(null); // a no-op once handed over; otherwise the fetch looks again itself
      }
    }
    this.announcer.announce(v.delayMs > 0 ? `o${v.delayMs}` : "o");
    this.wakeIn(this.orchestratorWork, v.delayMs);
  }

  /**
   * Gives a parked fetch what a write claimed for it; true when that was a claim. With nothing
   * claimed the fetch looks again itself and the caller wakes the others as usual. `covered`: the
   * claims took all the work the write made, so nobody else is woken (and fetches that found the
   * queue empty before may go on trusting that). Otherwise (the claim took older work, or less than
   * the write made) everyone is woken as for any write.
   */
  private handOver(spot: ParkedFetch<Row>, claim: Row, signal: WakeSignal, covered: boolean): boolean {
    if (claim.o_token === null) {
      spot.settle(null);
      return false;
    }
    spot.settle(claim);
    if (!covered) signal.notify();
    return true;
  }

  /**
   * Queues a held start the ordinary way (see fused-starts.ts): durable, announced, and this
   * process's fetches woken. Once closed, straight on the pool (write() refuses then).
   */
  private async queueStart(start: HeldStart, delayMs: number, counted: boolean): Promise<void> {
    await this.writeEvenClosing("enqueueForOrchestrator", this.sqlText.queueStart, [start.instance, start.text, delayMs, counted ? 1 : 0]);
    if (this.closed) return;
    this.announcer.announce(delayMs > 0 ? `o${delayMs}` : "o");
    this.wakeIn(this.orchestratorWork, delayMs);
  }

  /**
   * Writes a held start whose turn did not ack within the hold, claimed under its token (see
   * fused-starts.ts); when the instance is not new it is a plain enqueue, announced and woken.
   */
  private async writeStartAlone(start: HeldStart, lockMs: number): Promise<void> {
    const rows = await this.writeEvenClosing("enqueueForOrchestrator", this.sqlText.holdStart, [start.instance, start.text, start.token, lockMs]);
    if (rows[0]?.locked !== true && !this.closed) {
      this.announcer.announce("o");
      this.orchestratorWork.notify();
    }
  }

  /**
   * A durable write that must land even while the provider closes (close() drains held starts
   * through it): grouped as any write while open, then straight on the pool (write() refuses).
   */
  private async writeEvenClosing(op: string, text: string, params: unknown[]): Promise<Row[]> {
    if (!this.closed) return this.write(op, text, params);
    try {
      return (await this.sql.unsafe(text, wire(params))) as Row[];
    } catch (err) {
      throw postgresError(op, err);
    }
  }

  /** The batch a held start makes: the start message alone, no history (the instance is new). */
  private startBatch(token: string): FetchedOrchestration | null {
    const start = this.fusedStarts.get(token);
    if (start === undefined) return null;
    const m = start.item;
    return {
      item: { instance: m.instance, orchestration_name: m.orchestration, execution_id: m.execution_id, version: m.version ?? "unknown", history: [], messages: [m], history_error: null, kv_snapshot: {} },
      lockToken: token,
      attemptCount: 1,
    };
  }

  /** Drops claimed-ahead activities that a turn cancelled (their rows are deleted). */
  private discardCancelled(cancelled: ScheduledActivityIdentifier[]): void {
    const ids = new Set(cancelled.map((c) => activityKeyOf(c.instance, c.execution_id, c.activity_id)));
    this.claimedAhead.discard((row) => {
      try {
        const w = decodeWorkItem(row.o_item as string);
        return w.type === "ActivityExecute" && ids.has(activityKeyOf(w.instance, w.execution_id, w.id));
      } catch {
        return false; // undecodable: the fetch that takes it dead-letters it
      }
    });
  }

  /**
   * The first turn's ack of a held start: start_ack_orch writes the start's effects and the turn in
   * one transaction (claiming activities for `spots`, if any). When the instance is not new the
   * start goes through the queue instead and this ack fails with LockLost (the turn is redone from
   * the queue), unless an earlier try of this ack committed and only its answer was lost: then
   * this one succeeds. Any other failure leaves the start held: a retried ack may still commit it,
   * and otherwise the hold's timer or an abandon writes it (see fused-starts.ts).
   */
  private async ackStart(op: string, start: HeldStart, ackParams: unknown[], firstEvent: string | null, spots: ParkedFetch<Row>[]): Promise<Row> {
    const claim = spots.length > 0 ? [...spots[0]!.params, spots.length] : NO_WORK_CLAIM;
    if (!this.fusedStarts.beginAck(start.token)) {
      // Its lock lapsed before the ack came (a turn that outran it): like any lapsed lock.
      await this.fusedStarts.fallBack(start.token, 0, true);
      throw ProviderError.lockLost(op, `the lock of instance ${start.instance}'s first turn lapsed before its ack: its start went through the queue, and a fetch delivers it again`);
    }
    try {
      const r = (await this.write(op, this.sqlText.startAckOrch, [start.instance, start.lockMs, ...ackParams, ...claim]))[0]!;
      this.fusedStarts.committed(start.token);
      return r;
    } catch (err) {
      if (!isNotNewInstance(err)) {
        this.fusedStarts.ackFailed(start.token, firstEvent);
        throw err;
      }
      if ((await this.fusedStarts.notNew(start.token)) === "landed") {
        // Its own earlier try committed: claims made then were lost with the answer (they lapse).
        return { o_instance: start.instance, o_pending: true, o_tokens: [], o_items: [], o_attempts: [] };
      }
      throw new ProviderError("LockLost", op, `instance ${start.instance} is not new or a message waits for it: its start went through the queue, and a fetch delivers it again with what waits`, { superseded: true });
    }
  }

  /** Whether instance `start`'s first stored event is `firstEvent` (an ack of this start committed). */
  private async startLanded(start: HeldStart, firstEvent: string): Promise<boolean> {
    const rows = await this.sql.unsafe(this.sqlText.firstEvent, [start.instance, start.item.execution_id]);
    return rows[0]?.event_data === firstEvent;
  }

  /**
   * A write that also claims `reserved` activities ahead for the worker fetches of `key` (a turn's
   * ack, or a worker fetch that found work), and holds what it claimed (or, when the provider
   * closed meanwhile, gives it back). `send` gets the lock the claim takes: the fetches' lock
   * timeout plus the longest hold; the hold counts from before the write began, so an item handed
   * out has at least a fresh fetch's lease (see claimed-ahead.ts). close() waits for it to land.
   */
  private claimingAhead(key: string, lockMs: number, reserved: number, send: (aheadLockMs: number) => Promise<Row>): Promise<Row> {
    const landed = (async () => {
      const at = performance.now();
      let r: Row;
      try {
        r = await send(claimAheadLockMs(lockMs));
      } catch (err) {
        this.claimedAhead.cancel(reserved);
        throw err;
      }
      const rows = claimedWork(r);
      if (this.closed) {
        this.claimedAhead.cancel(reserved);
        await this.giveBack(rows); // close() waits for this before it closes the pool
      } else {
        this.claimedAhead.put(key, rows, reserved, lockMs, at);
      }
      return r;
    })();
    this.claimsInFlight.add(landed);
    void landed.finally(() => this.claimsInFlight.delete(landed)).catch(() => {});
    return landed;
  }

  /**
   * Gives the reserved worker fetches the claims ack_orch_claim_work made (one each, in order);
   * true when at least one got a claim. Claims take the oldest items first: they cover the turn's
   * activities (`texts`) only if they took all of them.
   */
  private handOverActivities(spots: ParkedFetch<Row>[], r: Row, texts: string[]): boolean {
    const claims = claimedWork(r);
    const mine = new Set(texts);
    const covered = claims.length === texts.length && claims.every((c) => mine.has(c.o_item as string));
    let handedOver = false;
    spots.forEach((spot, i) => {
      if (this.handOver(spot, claims[i] ?? { o_token: null }, this.workerWork, covered)) handedOver = true;
    });
    return handedOver;
  }

  async fetchOrchestrationItem(
    lockTimeoutMs: number,
    pollTimeoutMs: number,
    filter?: DispatcherCapabilityFilter | null,
    signal?: AbortSignal | null,
  ): Promise<FetchedOrchestration | null> {
    const op = "fetchOrchestrationItem";
    const { range } = validateProviderInput.fetchOrchestrationItem(lockTimeoutMs, pollTimeoutMs, filter, signal);
    if (this.closed) throw ProviderError.closed(op);
    if (range === "none") return null; // admits nothing
    const params = [
      lockTimeoutMs,
      range !== null,
      range === null ? [0, 0, 0] : [range[0].major, range[0].minor, range[0].patch],
      range === null ? [0, 0, 0] : [range[1].major, range[1].minor, range[1].patch],
      HISTORY_TAIL,
    ];
    // A hand-off claims for one reserved orchestrator fetch, with that fetch's own parameters.
    const group = range === null ? "" : JSON.stringify(params.slice(2, 4));
    const attempt = async (handed: Row | undefined): Promise<Attempt<FetchedOrchestration>> => {
      for (let r = handed; ; r = undefined) {
        if (r?.o_start === true) {
          // A start handed over without a write (see fused-starts.ts); gone already (closed): look.
          const batch = this.startBatch(r.o_token as string);
          if (batch !== null) return { found: batch, nextDueMs: null };
          continue;
        }
        r ??= (await this.call(op, this.sqlText.fetchOrch, [...params, this.heldTurns.instances()]))[0]!;
        if (r.o_token === null) return { found: null, nextDueMs: num(r.o_next_due_ms) };
        const turn = await this.toTurn(op, r);
        if (turn !== null) {
          this.heldTurns.hold(turn.lockToken, turn.item.instance, lockTimeoutMs);
          return { found: turn, nextDueMs: null };
        }
        // Nothing in the batch could be used (undecodable, or no identity): it was given back; look again.
      }
    };
    // Given back like any abandon: claimable again at once, announced, and this process's fetches woken.
    const release = (r: Row) => this.abandonOrchestrationItem(r.o_token as string, 0, true);
    return this.poll(pollTimeoutMs, this.orchestratorWork, this.parkedOrch, group, params, attempt, release, signal);
  }

  /** Decodes a claimed batch into a turn; null (after giving the batch back) when nothing in it can be processed. */
  private async toTurn(op: string, r: Row): Promise<FetchedOrchestration | null> {
    const token = r.o_token as string;
    const instance = r.o_instance as string;
    const messages: WorkItem[] = [];
    for (const text of r.o_messages as string[]) {
      try {
        messages.push(decodeWorkItem(text));
      } catch (err) {
        // An undecodable message can never be processed: park it rather than redeliver it forever.
        await this.call(op, this.sqlText.deadLetter, ["orchestrator", token, text, (err as Error).message]);
      }
    }
    let name = (r.o_name as string | null) ?? null;
    let version = (r.o_version as string | null) ?? null;
    if (!r.o_existed && r.o_started !== null) {
      try {
        const e = decodeEvent(r.o_started as string);
        if (e.type === "OrchestrationStarted") [name, version] = [e.name, e.version];
      } catch {
        // identity from a start message below, if any
      }
    }
    if (name === null) {
      for (const m of messages) {
        if (m.type === "StartOrchestration" || m.type === "ContinueAsNew") {
          [name, version] = [m.orchestration, m.version];
          break;
        }
      }
    }
    if (messages.length === 0 || name === null) {
      await this.call(op, this.sqlText.abandonOrch, [token, messages.length === 0 ? 0 : 1000, true]);
      return null;
    }
    let history: Event[] = [];
    let historyError: string | null = null;
    const executionId = Number(r.o_execution_id);
    try {
      // The fetch brought the history's last events; the rest is held here or read whole (§16.7).
      const got = this.historyTails.assemble(instance, executionId, unpackTexts(r.o_history), r.o_history_complete === true);
      if ("events" in got) history = got.events;
      else {
        const rows = await this.call(op, this.sqlText.readExecution, [instance, executionId]);
        history = this.historyTails.whole(instance, executionId, rows.map((x) => x.event_data as string));
      }
    } catch (err) {
      if (err instanceof ProviderError) {
        // The whole-history read failed: give the batch back (its lock, not its attempt) and report.
        await this.call(op, this.sqlText.abandonOrch, [token, 0, true]).catch(() => {});
        throw err;
      }
      // Never throw while holding a lock: hand the runtime the error so it can poison the instance.
      history = [];
      historyError = `history deserialization failed: ${(err as Error).message}`;
    }
    const kv: Record<string, KvEntry> = {};
    const keys = r.o_kv_keys as string[];
    const values = r.o_kv_values as string[];
    const times = r.o_kv_times as unknown[];
    for (let i = 0; i < keys.length; i++) kv[keys[i]!] = { value: decodeText(values[i]!), last_updated_at_ms: Number(times[i]) };
    return {
      item: {
        instance,
        orchestration_name: name,
        execution_id: executionId,
        version: version ?? "unknown",
        history,
        messages,
        history_error: historyError,
        kv_snapshot: kv,
      },
      lockToken: token,
      attemptCount: Number(r.o_attempt),
    };
  }

  async ackOrchestrationItem(...args: Parameters<Provider["ackOrchestrationItem"]>): Promise<void> {
    try {
      await this.ackTurn(...args);
    } finally {
      // Released, or in doubt: either way this process's fetches look its lock up again.
      this.heldTurns.release(args[0]);
    }
  }

  private async ackTurn(
    lockToken: string,
    executionId: number,
    historyDelta: Event[],
    workerItems: WorkItem[],
    orchestratorItems: WorkItem[],
    metadata: ExecutionMetadata,
    cancelledActivities: ScheduledActivityIdentifier[],
  ): Promise<void> {
    const op = "ackOrchestrationItem";
    const v = validateProviderInput.ackOrchestrationItem(
      lockToken,
      executionId,
      historyDelta,
      workerItems,
      orchestratorItems,
      metadata,
      cancelledActivities,
    );
    const ack = ackParams(lockToken, executionId, v);
    // A start held for this turn commits with it; one written alone meanwhile is an ordinary lock.
    // A turn that records no event (one waiting for its handler) leaves nothing that would show,
    // after a lost answer, whether its ack committed: its start is written alone first.
    let start: HeldStart | undefined;
    if (FusedStarts.isStartToken(lockToken)) {
      await this.fusedStarts.written(lockToken);
      if (v.delta.length === 0 && this.fusedStarts.get(lockToken) !== undefined) await this.fusedStarts.writeNow(lockToken);
      start = this.fusedStarts.get(lockToken);
    }
    const seen = this.orchestratorWork.generation;
    // Fetches of this process idle on the worker queue get the turn's activities in the same transaction.
    const spots = this.parkedWork.reserve(ack.activityTexts.length);
    // None idle, but this process's worker fetches are busy taking work: claim some for them.
    const ahead = spots.length === 0 && start === undefined ? this.aheadFor : null;
    const room = ahead === null ? 0 : this.claimedAhead.reserve(ahead.key, ack.activityTexts.length);
    let r: Row;
    let handedOver = false;
    try {
      if (start !== undefined) {
        r = await this.ackStart(op, start, ack.params, v.deltaTexts[0] ?? null, spots);
        handedOver = spots.length > 0 && this.handOverActivities(spots, r, ack.activityTexts);
      } else if (spots.length > 0) {
        r = (await this.write(op, this.sqlText.ackOrchClaimWork, [...ack.params, ...spots[0]!.params, spots.length]))[0]!;
        handedOver = this.handOverActivities(spots, r, ack.activityTexts);
      } else if (room > 0) {
        // Held items are taken by fetches as they look: waking them (below) is what a parked one needs.
        const a = ahead!;
        r = await this.claimingAhead(a.key, a.lockMs, room, async (lock) => (await this.write(op, this.sqlText.ackOrchClaimWork, [...ack.params, lock, ...a.filter, room]))[0]!);
      } else {
        r = (await this.write(op, this.sqlText.ackOrch, ack.params))[0]!;
      }
    } finally {
      for (const spot of spots) spot.settle(null); // no-ops for those handed a claim
    }
    // Cancelled activities claimed ahead: their rows are gone, so a fetch must not get them.
    if (v.cancelled.length > 0 && this.claimedAhead.size > 0) this.discardCancelled(v.cancelled);
    // Messages for the instance that committed before the ack looked (o_pending), or whose
    // wake-up came while the ack ran (its fetch found the instance still locked), are fetchable
    // now that the lock is gone. A message whose wake-up comes later finds the lock gone anyway.
    if (r.o_pending || this.orchestratorWork.generation !== seen) this.orchestratorWork.notify();
    if (r.o_pending) this.announcer.announce("o");
    if (ack.activityTexts.length > 0) {
      this.announcer.announce("w");
      if (!handedOver) this.workerWork.notify();
    }
    if (ack.firstDelayMs !== null) {
      this.announcer.announce(ack.firstDelayMs > 0 ? `o${ack.firstDelayMs}` : "o");
      this.wakeIn(this.orchestratorWork, ack.firstDelayMs);
    }
    if (isTerminalStatus(v.metadata.status)) this.announcer.announce(`t${r.o_instance as string}`);
  }

  async abandonOrchestrationItem(lockToken: string, delayMs: number | null, ignoreAttempt: boolean): Promise<void> {
    const op = "abandonOrchestrationItem";
    const { delayMs: delay } = validateProviderInput.abandonOrchestrationItem(lockToken, delayMs);
    this.heldTurns.release(lockToken);
    if (FusedStarts.isStartToken(lockToken)) {
      // A held start (see fused-starts.ts) goes through the queue, visible after the delay.
      if (this.fusedStarts.get(lockToken) !== undefined) return this.fusedStarts.fallBack(lockToken, delay, ignoreAttempt !== true);
      await this.fusedStarts.written(lockToken);
    }
    await this.call(op, this.sqlText.abandonOrch, [lockToken, delay, ignoreAttempt === true]);
    this.announcer.announce(delay > 0 ? `o${delay}` : "o");
    this.wakeIn(this.orchestratorWork, delay);
  }

  async renewOrchestrationItemLock(lockToken: string, extendForMs: number): Promise<void> {
    const op = "renewOrchestrationItemLock";
    validateProviderInput.renewOrchestrationItemLock(lockToken, extendForMs);
    if (FusedStarts.isStartToken(lockToken)) {
      // Nothing is stored for a held start: its lock lives here (see fused-starts.ts).
      if (this.fusedStarts.renew(lockToken, extendForMs)) return;
      await this.fusedStarts.written(lockToken);
    }
    await this.call(op, this.sqlText.renewOrch, [lockToken, extendForMs]);
    this.heldTurns.renew(lockToken, extendForMs);
  }

  // ------------------------------------------------------------------ worker queue

  async enqueueForWorker(item: WorkItem): Promise<void> {
    const op = "enqueueForWorker";
    const { item: w, text } = validateProviderInput.enqueueForWorker(item);
    if (this.closed) throw ProviderError.closed(op);
    if (w.type !== "ActivityExecute") return;
    await this.write(op, this.sqlText.enqueueWorker, [text, w.instance, w.execution_id, w.id, w.session_id ?? null, w.tag ?? null]);
    this.announcer.announce("w");
    this.workerWork.notify();
  }

  async fetchWorkItem(
    lockTimeoutMs: number,
    pollTimeoutMs: number,
    session: SessionFetchConfig | null,
    tagFilter: TagFilter,
    signal?: AbortSignal | null,
  ): Promise<FetchedWorkItem | null> {
    const op = "fetchWorkItem";
    const { session: sess, tagFilter: tf } = validateProviderInput.fetchWorkItem(lockTimeoutMs, pollTimeoutMs, session, tagFilter, signal);
    if (this.closed) throw ProviderError.closed(op);
    if (tf.type === "None") return null; // an orchestrator-only node
    const tags = tf.type === "Tags" || tf.type === "DefaultAnd" ? [...tf.tags] : [];
    const params = [lockTimeoutMs, TAG_MODES[tf.type], tags, sess !== null, sess?.owner_id ?? "", sess?.lock_timeout ?? 0];
    // The lock timeout is part of the group: a hand-off claims for all reserved fetches of a group at once, with one timeout.
    const group = JSON.stringify(params);
    // Claimed ahead for this filter and lock timeout (never session items, so any session config takes them).
    const key = JSON.stringify(params.slice(0, 3));
    if (this.aheadFor?.key !== key) this.aheadFor = { key, lockMs: lockTimeoutMs, filter: [params[1], params[2], false, "", 0] };
    const claimedAhead = { take: () => this.claimedAhead.take(key), more: () => this.claimedAhead.holds(key) };
    const attempt = async (handed: Row | undefined): Promise<Attempt<FetchedWorkItem>> => {
      // After a dead letter, an item held for this filter (older than the queue's rest) comes first.
      for (let r = handed; ; r = this.claimedAhead.take(key)) {
        r ??= await this.fetchWorkClaimingAhead(op, params, key, lockTimeoutMs);
        if (r.o_token === null) return { found: null, nextDueMs: num(r.o_next_due_ms) };
        try {
          const item = decodeWorkItem(r.o_item as string);
          return { found: { item, lockToken: r.o_token as string, attemptCount: Number(r.o_attempt) }, nextDueMs: null };
        } catch (err) {
          // An undecodable row can never run: park it instead of failing every fetch behind it.
          await this.call(op, this.sqlText.deadLetter, ["worker", r.o_token, null, (err as Error).message]);
        }
      }
    };
    const release = (r: Row) => this.abandonWorkItem(r.o_token as string, 0, true);
    const found = await this.poll(pollTimeoutMs, this.workerWork, this.parkedWork, group, params, attempt, release, signal, claimedAhead);
    if (found !== null) this.claimedAhead.noteTaken(key);
    return found;
  }

  /**
   * One worker fetch; when this process's fetches of `key` have been finding work, it also claims
   * up to FETCH_CLAIM_AHEAD more for the next ones (held as a turn's ack holds them): under a
   * backlog, one round trip for several activities instead of one each.
   */
  private async fetchWorkClaimingAhead(op: string, params: unknown[], key: string, lockMs: number): Promise<Row> {
    const reserved = this.claimedAhead.reserve(key, FETCH_CLAIM_AHEAD);
    if (reserved === 0) return (await this.call(op, this.sqlText.fetchWork, params))[0]!;
    const r = await this.claimingAhead(key, lockMs, reserved, async (lock) => (await this.call(op, this.sqlText.fetchWorkAhead, [...params, lock, reserved]))[0]!);
    // Idle fetches of this filter with another session owner (each runtime slot is a group of its
    // own, so the passOn in poll() does not reach them) take what was claimed: wake them, as a
    // turn's ack that claimed ahead does.
    if ((r.o_tokens as unknown[]).length > 0 && this.parkedWork.size > 0) this.workerWork.notify();
    return r;
  }

  async ackWorkItem(lockToken: string, completion: WorkItem | null): Promise<void> {
    const op = "ackWorkItem";
    const done = validateProviderInput.ackWorkItem(lockToken, completion);
    if (this.closed) throw ProviderError.closed(op);
    const ack: WorkAck = {
      token: lockToken,
      instance: done === null ? null : workItemInstance(done.item),
      kind: done === null ? null : done.item.type,
      item: done === null ? null : done.text,
    };
    // Checked alone, so that one unstorable ack cannot fail the batch it would have joined.
    checkStorable(op, [ack.token, ack.instance, ack.kind, ack.item]);
    // Resolves once the ack is durable: an outcome that is a promise is followed (sendWorkAcks).
    await this.workAcks.submit(ack);
    // The batch woke this process's fetches (sendWorkAcks); other processes hear it here.
    if (done !== null) this.announcer.announce("o");
  }

  /** One batch of worker acks: one call of ack_work_many; an ack whose lock is gone fails alone. */
  private async sendWorkAcks(acks: WorkAck[]): Promise<Outcome<Promise<void> | undefined>[]> {
    const op = "ackWorkItem";
    const params = [acks.map((a) => a.token), acks.map((a) => a.instance), PackedTexts.of(acks.map((a) => a.kind)), PackedTexts.of(acks.map((a) => a.item))];
    const completes = acks.some((a) => a.item !== null);
    // A completion makes orchestrator work: a fetch of this process idle on that queue gets it in the same transaction.
    const [spot] = completes ? this.parkedOrch.reserve(1) : [];
    let applied: Set<number>;
    let durable: Promise<void> | undefined;
    try {
      const r = spot === undefined
        ? (await this.call(op, this.sqlText.ackWorkMany, params))[0]!
        : (await this.call(op, this.sqlText.ackWorkManyClaim, [...params, ...spot.params]))[0]!;
      applied = new Set((r.done as number[]).map(Number));
      // The claim covers the batch's completions when they were all for the instance it took.
      const covered = acks.every((a, i) => a.item === null || !applied.has(i + 1) || a.instance === r.o_instance);
      const handedOver = spot !== undefined && this.handOver(spot, r, this.orchestratorWork, covered);
      if (completes && !handedOver) this.orchestratorWork.notify();
      if (spot !== undefined) {
        // Committed before its flush: answered once durable, usually by the ack of the turn it
        // was handed to; with no turn coming (nothing handed over, or closing), flushed now. The
        // next batch does not wait for that.
        durable = this.flushWatch.durable();
        durable.catch(() => {}); // its callers get the failure; with none (no ack applied), nobody needs it
        if (!handedOver || this.closed) void this.flushWatch.flushNow();
      }
    } finally {
      spot?.settle(null); // a no-op once handed over
    }
    return acks.map((a, i) =>
      applied.has(i + 1)
        ? { ok: true, value: durable }
        : { ok: false, error: ProviderError.lockLost(op, `work item lock ${a.token} is gone: the activity was cancelled, its lock expired, or it was already acked`) },
    );
  }

  /** One durable commit that writes nothing but flushes the WAL (see flush-watch.ts); straight on the pool, so close() can use it. */
  private async flushWal(): Promise<void> {
    const op = "ackWorkItem";
    try {
      await this.sql.unsafe(this.flushByMessage ? this.sqlText.flush : this.sqlText.flushByUpdate, []);
    } catch (err) {
      const state = sqlState(err);
      // Refused the message (no privilege, no such function): the update flushes from now on.
      if (this.flushByMessage && (state === "42501" || state === "42883")) {
        this.flushByMessage = false;
        return this.flushWal();
      }
      throw postgresError(op, err);
    }
  }

  async abandonWorkItem(lockToken: string, delayMs: number | null, ignoreAttempt: boolean): Promise<void> {
    const op = "abandonWorkItem";
    const { delayMs: delay } = validateProviderInput.abandonWorkItem(lockToken, delayMs);
    await this.call(op, this.sqlText.abandonWork, [lockToken, delay, ignoreAttempt === true]);
    this.announcer.announce(delay > 0 ? `w${delay}` : "w");
    this.wakeIn(this.workerWork, delay);
  }

  async renewWorkItemLock(lockToken: string, extendForMs: number): Promise<void> {
    const op = "renewWorkItemLock";
    validateProviderInput.renewWorkItemLock(lockToken, extendForMs);
    await this.call(op, this.sqlText.renewWork, [lockToken, extendForMs]);
  }

  // ------------------------------------------------------------------ sessions

  async renewSessionLock(ownerIds: string[], extendForMs: number, idleTimeoutMs: number): Promise<number> {
    const op = "renewSessionLock";
    validateProviderInput.renewSessionLock(ownerIds, extendForMs, idleTimeoutMs);
    if (this.closed) throw ProviderError.closed(op);
    if (ownerIds.length === 0) return 0;
    const rows = await this.call(op, this.sqlText.renewSessions, [ownerIds, extendForMs, idleTimeoutMs]);
    return Number(rows[0]!.n);
  }

  async releaseSessionLocks(ownerIds: string[], sessionIds?: string[] | null): Promise<number> {
    const op = "releaseSessionLocks";
    const v = validateProviderInput.releaseSessionLocks(ownerIds, sessionIds);
    if (this.closed) throw ProviderError.closed(op);
    if (v.owners.length === 0 || v.sessionIds?.length === 0) return 0;
    const rows = await this.call(op, this.sqlText.releaseSessions, [v.owners, v.sessionIds]);
    const n = Number(rows[0]!.n);
    // Their items are claimable by other owners now: idle fetches must not trust an older empty look.
    if (n > 0) this.workerWork.notify();
    return n;
  }

  async cleanupOrphanedSessions(idleTimeoutMs: number): Promise<number> {
    const op = "cleanupOrphanedSessions";
    validateProviderInput.cleanupOrphanedSessions(idleTimeoutMs);
    const rows = await this.call(op, this.sqlText.cleanupSessions, []);
    const n = Number(rows[0]!.n);
    if (n > 0) this.workerWork.notify();
    return n;
  }

  // ------------------------------------------------------------------ history

  async read(instance: string): Promise<Event[]> {
    const op = "read";
    validateProviderInput.read(instance);
    const rows = await this.call(op, this.sqlText.readLatest, [instance]);
    return decodeEvents(op, rows);
  }

  async readWithExecution(instance: string, executionId: number): Promise<Event[]> {
    const op = "readWithExecution";
    validateProviderInput.readWithExecution(instance, executionId);
    const rows = await this.call(op, this.sqlText.readExecution, [instance, executionId]);
    return decodeEvents(op, rows);
  }

  async appendWithExecution(instance: string, executionId: number, events: Event[]): Promise<void> {
    const op = "appendWithExecution";
    const v = validateProviderInput.appendWithExecution(instance, executionId, events);
    if (v.events.length === 0) {
      if (this.closed) throw ProviderError.closed(op);
      return;
    }
    await this.call(op, this.sqlText.appendHistory, [
      instance,
      executionId,
      bigintList(v.events.map((e) => e.event_id)),
      PackedTexts.of(v.events.map((e) => e.type)),
      PackedTexts.of(v.texts),
    ]);
  }

  // ------------------------------------------------------------------ custom status / KV

  async getCustomStatus(instance: string, lastSeenVersion: number): Promise<{ status: string | null; version: number } | null> {
    const op = "getCustomStatus";
    validateProviderInput.getCustomStatus(instance, lastSeenVersion);
    const rows = await this.call(op, this.sqlText.customStatus, [instance, lastSeenVersion]);
    const r = rows[0];
    return r === undefined ? null : { status: decodeText((r.custom_status as string | null) ?? null), version: Number(r.custom_status_version) };
  }

  async getKvValue(instance: string, key: string): Promise<string | null> {
    const op = "getKvValue";
    validateProviderInput.getKvValue(instance, key);
    const rows = await this.call(op, this.sqlText.kvValue, [instance, key]);
    const r = rows[0];
    return r === undefined ? null : decodeText((r.value as string | null) ?? null);
  }

  async getKvAllValues(instance: string): Promise<Record<string, string>> {
    const op = "getKvAllValues";
    validateProviderInput.getKvAllValues(instance);
    const rows = await this.call(op, this.sqlText.kvAll, [instance]);
    const out: Record<string, string> = {};
    for (const r of rows) if (r.value !== null) out[r.key as string] = decodeText(r.value as string);
    return out;
  }

  capabilities(): ProviderCapabilities {
    return { longPolling: true, management: true, multiProcess: true, crossProcessWakeups: this.listener !== null, terminalWakeups: this.listener !== null };
  }

  asManagementCapability(): ProviderAdmin {
    return this.checkedAdmin;
  }
}

/** The admin behind a check of every string argument (ids, filters) before it reaches PostgreSQL. */
function withStorableArguments(admin: ProviderAdmin): ProviderAdmin {
  return new Proxy(admin, {
    get(target, key, receiver) {
      const value = Reflect.get(target, key, receiver) as unknown;
      if (typeof value !== "function" || typeof key !== "string") return value;
      return (...args: unknown[]) => {
        try {
          checkStorable(key, args);
        } catch (err) {
          return Promise.reject(err);
        }
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
}

function decodeEvents(op: string, rows: Row[]): Event[] {
  try {
    return rows.map((r) => decodeEvent(r.event_data as string));
  } catch (err) {
    throw ProviderError.from(op, err);
  }
}

/**
 * The ack function's 30 parameters, in its order (see ack_orch in ./postgres/schema.ts), with what
 * the caller announces after the commit: the activities the turn enqueued (their texts), and when its
 * first orchestrator message becomes visible (ms from now; null when it enqueued none).
 */
function ackParams(
  lockToken: string,
  executionId: number,
  v: ReturnType<typeof validateProviderInput.ackOrchestrationItem>,
): { params: unknown[]; activityTexts: string[]; firstDelayMs: number | null } {
  const events = v.delta;
  const w = { items: [] as string[], inst: [] as string[], exec: [] as number[], act: [] as number[], sess: [] as (string | null)[], tag: [] as (string | null)[] };
  v.workerItems.forEach((item, i) => {
    if (item.type !== "ActivityExecute") return;
    w.items.push(v.workerTexts[i]!);
    w.inst.push(item.instance);
    w.exec.push(item.execution_id);
    w.act.push(item.id);
    w.sess.push(item.session_id ?? null);
    w.tag.push(item.tag ?? null);
  });
  const now = Date.now();
  const o = { inst: [] as string[], kind: [] as string[], items: v.orchestratorTexts, delay: [] as number[] };
  for (const item of v.orchestratorItems) {
    o.inst.push(workItemInstance(item));
    o.kind.push(item.type);
    // A timer's due time is relative: the server adds the remaining delay to its own clock.
    o.delay.push(item.type === "TimerFired" ? Math.max(0, Math.ceil(item.fire_at_ms - now)) : 0);
  }
  let statusSet = false;
  let status: string | null = null;
  const kv = { ops: [] as string[], keys: [] as (string | null)[], values: [] as (string | null)[], times: [] as number[] };
  for (const e of events) {
    if (e.type === "CustomStatusUpdated") [statusSet, status] = [true, e.status];
    else if (e.type === "KeyValueSet") {
      kv.ops.push("set");
      kv.keys.push(e.key);
      kv.values.push(encodeText(e.value));
      kv.times.push(e.last_updated_at_ms ?? 0);
    } else if (e.type === "KeyValueCleared") {
      kv.ops.push("clear");
      kv.keys.push(e.key);
      kv.values.push(null);
      kv.times.push(0);
    } else if (e.type === "KeyValuesCleared") {
      kv.ops.push("clear_all");
      kv.keys.push(null);
      kv.values.push(null);
      kv.times.push(0);
    }
  }
  const md = v.metadata;
  const pin = md.pinned_duroxide_version;
  const params = [
    lockToken,
    executionId,
    bigintList(events.map((e) => e.event_id)),
    PackedTexts.of(events.map((e) => e.type)),
    PackedTexts.of(v.deltaTexts),
    PackedTexts.of(w.items),
    w.inst,
    bigintList(w.exec),
    bigintList(w.act),
    w.sess,
    w.tag,
    o.inst,
    PackedTexts.of(o.kind),
    PackedTexts.of(o.items),
    bigintList(o.delay),
    md.orchestration_name ?? null,
    md.orchestration_version ?? null,
    md.parent_instance_id ?? null,
    md.status ?? null,
    encodeText(md.output ?? null),
    pin == null ? null : [pin.major, pin.minor, pin.patch],
    statusSet,
    encodeText(status),
    kv.ops,
    kv.keys,
    kv.values,
    bigintList(kv.times),
    v.cancelled.map((c) => c.instance),
    bigintList(v.cancelled.map((c) => c.execution_id)),
    bigintList(v.cancelled.map((c) => c.activity_id)),
  ];
  return { params, activityTexts: w.items, firstDelayMs: o.delay.length > 0 ? Math.min(...o.delay) : null };
}

/** The types of ack_orch's parameters, in its order (see ackParams); "packed": a PackedTexts, a text[] once unpacked. */
const ACK_ORCH_TYPES = [
  "text", "bigint", "bigint[]", "packed", "packed",
  "packed", "text[]", "bigint[]", "bigint[]", "text[]", "text[]",
  "text[]", "packed", "packed", "bigint[]",
  "text", "text", "text", "text", "text", "bigint[]",
  "boolean", "text",
  "text[]", "text[]", "text[]", "bigint[]",
  "text[]", "bigint[]", "bigint[]",
];

/** The types of ack_work_many's parameters: tokens, instances, kinds and items (null: no completion). */
const ACK_WORK_TYPES = ["text[]", "text[]", "packed", "packed"];

/** The worker claims' parameters after ack_orch's: fetch_work's (lock, tag mode, tags, session, owner, session lock) and a count. */
const WORK_CLAIM_TYPES = ["bigint", "text", "text[]", "boolean", "text", "bigint", "integer"];

/** Those parameters when nothing is to be claimed. */
const NO_WORK_CLAIM: unknown[] = [0, "default", [], false, "", 0, 0];

/**
 * Placeholders `$first`, `$first+1`, ... cast to `types`; a "packed" one (a PackedTexts) is
 * unpacked into a text[] by the statement.
 */
function placeholders(types: readonly string[], first = 1): string {
  return types.map((t, i) => (t === "packed" ? unpackSql(first + i) : `$${first + i}::${t}`)).join(", ");
}

/** fetch_orch_tail's parameters but the skip list, as a claim function takes them, from placeholder `$first` on. */
const ORCH_CLAIM_PARAMS = (first: number) => placeholders(["bigint", "boolean", "bigint[]", "bigint[]", "integer"], first);

/**
 * The columns of a claimed orchestrator batch (fetch_orch_tail's, as every claim returns them),
 * from a call aliased `f`. The history, the bulk of it, comes back packed (packed-texts.ts).
 */
const ORCH_BATCH = [
  "f.o_instance", "f.o_token", "f.o_execution_id", "f.o_name", "f.o_version", "f.o_existed", "f.o_messages", "f.o_attempt",
  `${packSql("f.o_history")} AS o_history`, "f.o_history_complete", "f.o_started", "f.o_kv_keys", "f.o_kv_values", "f.o_kv_times", "f.o_next_due_ms",
].join(", ");

/** Every statement's text, for one schema. */
function statements(q: string) {
  return {
    enqueueOrch: `SELECT ${q}.enqueue_orch($1::text, $2::text, $3::text, $4::bigint)`,
    fetchOrch: `SELECT ${ORCH_BATCH} FROM ${q}.fetch_orch_tail($1::bigint, $2::boolean, $3::bigint[], $4::bigint[], $5::integer, $6::text[]) AS f`,
    ackOrch: `SELECT * FROM ${q}.ack_orch(${placeholders(ACK_ORCH_TYPES)})`,
    abandonOrch: `SELECT ${q}.abandon_orch($1::text, $2::bigint, $3::boolean)`,
    renewOrch: `SELECT ${q}.renew_orch($1::text, $2::bigint)`,
    enqueueWorker: `SELECT ${q}.enqueue_worker($1::text, $2::text, $3::bigint, $4::bigint, $5::text, $6::text)`,
    fetchWork: `SELECT * FROM ${q}.fetch_work($1::bigint, $2::text, $3::text[], $4::boolean, $5::text, $6::bigint)`,
    fetchWorkAhead: `SELECT * FROM ${q}.fetch_work_ahead($1::bigint, $2::text, $3::text[], $4::boolean, $5::text, $6::bigint, $7::bigint, $8::integer)`,
    ackWorkMany: `SELECT ${q}.ack_work_many(${placeholders(ACK_WORK_TYPES)}) AS done`,
    // The hand-offs (see parked-fetches.ts): a write, then a claim for an idle fetch of this process.
    enqueueOrchClaim: `SELECT ${ORCH_BATCH} FROM ${q}.enqueue_orch_claim($1::text, $2::text, $3::text, $4::bigint, ${ORCH_CLAIM_PARAMS(5)}) AS f`,
    // Committed without waiting for the WAL flush (see flush-watch.ts): the function restores
    // synchronous_commit for its own write, and set_config, evaluated after it returned, turns it
    // off again for the commit.
    ackWorkManyClaim: `SELECT o_done AS done, ${ORCH_BATCH}, set_config('synchronous_commit', 'off', true) AS async_commit FROM ${q}.ack_work_many_claim(${placeholders(ACK_WORK_TYPES)}, ${ORCH_CLAIM_PARAMS(5)}) AS f`,
    // One commit that waits for the WAL flush, and nothing else: a transactional message is the
    // smallest WAL-logged write (a commit with no WAL of its own is not flushed). Where a role may
    // not emit it, a no-op update of the migrations table flushes instead.
    flush: `SELECT pg_logical_emit_message(true, 'duroxide.flush', '')`,
    flushByUpdate: `UPDATE ${q}.schema_migrations SET description = description WHERE version = (SELECT min(version) FROM ${q}.schema_migrations)`,
    // A held start through the queue; its held delivery counted when the runtime abandoned it counting (see fused-starts.ts).
    queueStart: `INSERT INTO ${q}.orchestrator_queue (instance_id, kind, work_item, visible_at, created_at, attempt_count) SELECT $1::text, 'StartOrchestration', $2::text, n + $3::bigint, n, $4::integer FROM ${q}.now_ms() AS n`,
    firstEvent: `SELECT event_data FROM ${q}.history WHERE instance_id = $1::text AND execution_id = $2::bigint ORDER BY event_id LIMIT 1`,
    holdStart: `SELECT ${q}.hold_start($1::text, $2::text, $3::text, $4::bigint) AS locked`,
    startAckOrch: `SELECT * FROM ${q}.start_ack_orch($1::text, $2::bigint, ${placeholders([...ACK_ORCH_TYPES, ...WORK_CLAIM_TYPES], 3)})`,
    ackOrchClaimWork: `SELECT * FROM ${q}.ack_orch_claim_work(${placeholders([...ACK_ORCH_TYPES, ...WORK_CLAIM_TYPES])})`,
    abandonWork: `SELECT ${q}.abandon_work($1::text, $2::bigint, $3::boolean)`,
    renewWork: `SELECT ${q}.renew_work($1::text, $2::bigint)`,
    renewSessions: `SELECT ${q}.renew_sessions($1::text[], $2::bigint, $3::bigint) AS n`,
    cleanupSessions: `SELECT ${q}.cleanup_sessions() AS n`,
    // Plain SQL, not a schema function: no migration needed (docs/provider-contract.md §5.3).
    releaseSessions: `WITH released AS (
        UPDATE ${q}.sessions SET locked_until = ${q}.now_ms()
         WHERE worker_id = ANY ($1::text[]) AND locked_until > ${q}.now_ms()
           AND ($2::text[] IS NULL OR session_id = ANY ($2::text[]))
        RETURNING 1)
      SELECT count(*)::int AS n FROM released`,
    deadLetter: `SELECT ${q}.dead_letter($1::text, $2::text, $3::text, $4::text)`,
    readLatest: `SELECT event_data FROM ${q}.history
      WHERE instance_id = $1::text
        AND execution_id = (SELECT coalesce(max(execution_id), 1) FROM ${q}.executions WHERE instance_id = $1::text)
      ORDER BY event_id`,
    readExecution: `SELECT event_data FROM ${q}.history WHERE instance_id = $1::text AND execution_id = $2::bigint ORDER BY event_id`,
    appendHistory: `INSERT INTO ${q}.history (instance_id, execution_id, event_id, event_type, event_data, created_at)
      SELECT $1::text, $2::bigint, e.id, e.t, e.d, ${q}.now_ms() FROM unnest($3::bigint[], ${unpackSql(4)}, ${unpackSql(5)}) AS e(id, t, d)`,
    customStatus: `SELECT custom_status, custom_status_version FROM ${q}.instances WHERE instance_id = $1::text AND custom_status_version > $2::bigint`,
    // The execution's overlay (kv_delta) wins over the committed values (kv_store).
    kvValue: `SELECT value FROM ${q}.kv_delta WHERE instance_id = $1::text AND key = $2::text
      UNION ALL SELECT value FROM ${q}.kv_store WHERE instance_id = $1::text AND key = $2::text
        AND NOT EXISTS (SELECT 1 FROM ${q}.kv_delta WHERE instance_id = $1::text AND key = $2::text)`,
    kvAll: `SELECT key, value FROM ${q}.kv_delta WHERE instance_id = $1::text
      UNION ALL SELECT s.key, s.value FROM ${q}.kv_store AS s WHERE s.instance_id = $1::text
        AND NOT EXISTS (SELECT 1 FROM ${q}.kv_delta AS d WHERE d.instance_id = s.instance_id AND d.key = s.key)`,
  };
}

// ---------------------------------------------------------------------------------- suite factory

export interface PostgresSuiteFactory extends ProviderFactory {
  createProvider(): Promise<PostgresProvider>;
  corruptInstanceHistory(instanceId: string): Promise<void>;
  getMaxAttemptCount(instanceId: string): Promise<number>;
}

/**
 * The correctness suite's factory: every provider gets a fresh schema `test_<random>` on the
 * server at `url`, dropped when the provider is closed, with both corruption hooks (acting on
 * the provider created last). In a provider repo's test file:
 *
 *   import { runAllTests } from "duroxide/provider-tests";
 *   import { postgresSuiteFactory } from "duroxide/postgres";
 *   await runAllTests(postgresSuiteFactory(process.env.DUROXIDE_PG_URL!));
 */
export function postgresSuiteFactory(url: string, options: Omit<PostgresProviderOptions, "schema"> = {}): PostgresSuiteFactory {
  let last: PostgresProvider | null = null;
  const tables = () => {
    if (last === null) throw new Error("no provider created yet");
    return { sql: (last as unknown as { sql: SQL }).sql, q: quoted(last.schema) };
  };
  return {
    async createProvider() {
      const schema = `test_${crypto.randomUUID().replaceAll("-", "").slice(0, 16)}`;
      const p = await PostgresProvider.connect(url, { ...options, schema });
      const close = p.close.bind(p);
      let dropped: Promise<void> | null = null;
      p.close = () => (dropped ??= close().then(() => PostgresProvider.dropSchema(url, schema)));
      last = p;
      return p;
    },
    async corruptInstanceHistory(instanceId) {
      const { sql, q } = tables();
      await sql.unsafe(`UPDATE ${q}.history SET event_data = 'NOT_VALID_JSON{{{' WHERE instance_id = $1`, [instanceId]);
    },
    async getMaxAttemptCount(instanceId) {
      const { sql, q } = tables();
      const rows = await sql.unsafe(`SELECT coalesce(max(attempt_count), 0)::int AS m FROM ${q}.orchestrator_queue WHERE instance_id = $1`, [instanceId]);
      return Number(rows[0]?.m ?? 0);
    },
  };
}

function activityKeyOf(instance: string, executionId: number, activityId: number): string {
  return `${executionId}:${activityId}:${instance}`;
}

/** What claiming ahead claims for: the last worker fetch's lock timeout and filter (`key` names both). */
interface AheadFor {
  key: string;
  lockMs: number;
  /** fetch_work's parameters after the lock timeout: its tag filter, and no session. */
  filter: unknown[];
}

/** The worker items ack_orch_claim_work claimed, as rows shaped like fetch_work's. */
function claimedWork(r: Row): Row[] {
  const tokens = r.o_tokens as string[];
  const items = r.o_items as string[];
  const attempts = r.o_attempts as number[];
  return tokens.map((token, i) => ({ o_token: token, o_item: items[i], o_attempt: attempts[i] }));
}

/** How many more activities a worker fetch that finds one may claim ahead. */
const FETCH_CLAIM_AHEAD = 4;

/** The longest close() waits for claims ahead still being written, and for give-backs. */
const CLOSE_WAIT_MS = 5_000;

/** Resolves when every promise settled, or after `ms`, whichever is first (the timer never holds the process). */
async function settledWithin(promises: Promise<unknown>[], ms: number): Promise<void> {
  if (promises.length === 0) return;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, ms);
    timer.unref?.();
  });
  try {
    await Promise.race([Promise.allSettled(promises), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
