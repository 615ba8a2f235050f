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
import { Batcher, type Outcome } from "./postgres/batcher.ts";
import { HISTORY_TAIL, HistoryTails } from "./postgres/history-tail.ts";
import { postgresError } from "./postgres/errors.ts";
import { Listener } from "./postgres/listener.ts";
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
  private readonly orchestratorWork = new WakeSignal();
  private readonly workerWork = new WakeSignal();
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
  private readonly workAcks = new Batcher<WorkAck, void>((acks) => this.sendWorkAcks(acks), MAX_ACK_BATCH);

  private constructor(
    private readonly sql: SQL,
    url: string,
    private readonly options: ResolvedOptions,
  ) {
    this.q = quoted(options.schema);
    this.sqlText = statements(this.q);
    this.admin = new PostgresProviderAdmin(sql, options.schema, () => this.closed);
    this.checkedAdmin = withStorableArguments(this.admin);
    this.announcer = new Announcer(sql, channelOf(options.schema), this.sender);
    this.listener = options.listen
      ? new Listener(url, channelOf(options.schema), {
          orchestrator: (ms) => this.wakeIn(this.orchestratorWork, ms),
          worker: (ms) => this.wakeIn(this.workerWork, ms),
          terminal: (instance) => instanceSignals(this).notify(instance, true),
          all: () => {
            this.orchestratorWork.notify();
            this.workerWork.notify();
          },
        }, options.connectTimeoutSeconds, this.sender)
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
      this.orchestratorWork.notify();
      this.workerWork.notify();
      for (const { timer } of this.timedWakes.values()) clearTimeout(timer);
      this.timedWakes.clear();
      await this.announcer.close();
      await this.listener?.close();
      await this.sql.close({ timeout: 5 }).catch(() => {});
    })();
    return this.closing;
  }

  private async call(op: string, text: string, params: unknown[]): Promise<Row[]> {
    if (this.closed) throw ProviderError.closed(op);
    checkStorable(op, params);
    try {
      return (await this.sql.unsafe(text, params)) as Row[];
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
    const alone = (w: Write) => this.call(w.op, w.text, w.params).then(
      (rows): Outcome<Row[]> => ({ ok: true, value: rows }),
      (error): Outcome<Row[]> => ({ ok: false, error }),
    );
    if (batch.length === 1) return [await alone(batch[0]!)];
    if (this.closed) return batch.map((w) => ({ ok: false, error: ProviderError.closed(w.op) }));
    let statementFailed = false;
    try {
      const results = await this.sql.begin(async (tx) => {
        const settled = await Promise.allSettled(batch.map((w) => tx.unsafe(w.text, w.params)));
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
   */
  private async poll<T>(pollTimeoutMs: number, signal: WakeSignal, attempt: () => Promise<Attempt<T>>, abort: AbortSignal | null | undefined): Promise<T | null> {
    const deadline = performance.now() + pollTimeoutMs;
    for (;;) {
      // An aborted fetch claims nothing (docs/provider-contract.md §3.2).
      if (abort?.aborted) return null;
      const seen = signal.generation;
      const r = await attempt();
      if (r.found !== null || this.closed) return r.found;
      const now = performance.now();
      if (now >= deadline) return null;
      if (signal.generation !== seen) continue; // woken while looking: look again now
      let wait = Math.min(deadline - now, this.options.fallbackPollIntervalMs);
      if (r.nextDueMs !== null) wait = Math.min(wait, Math.max(r.nextDueMs, 1));
      await signal.wait(wait, abort);
      if (this.closed || abort?.aborted) return null;
    }
  }

  // ------------------------------------------------------------------ orchestrator queue

  async enqueueForOrchestrator(item: WorkItem, delayMs?: number | null): Promise<void> {
    const op = "enqueueForOrchestrator";
    const v = validateProviderInput.enqueueForOrchestrator(item, delayMs);
    await this.write(op, this.sqlText.enqueueOrch, [workItemInstance(v.item), v.item.type, v.text, v.delayMs]);
    this.announcer.announce(v.delayMs > 0 ? `o${v.delayMs}` : "o");
    this.wakeIn(this.orchestratorWork, v.delayMs);
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
    return this.poll(pollTimeoutMs, this.orchestratorWork, async () => {
      for (;;) {
        const r = (await this.call(op, this.sqlText.fetchOrch, params))[0]!;
        if (r.o_token === null) return { found: null, nextDueMs: num(r.o_next_due_ms) };
        const turn = await this.toTurn(op, r);
        if (turn !== null) return { found: turn, nextDueMs: null };
        // Nothing in the batch could be used (undecodable, or no identity): it was given back; look again.
      }
    }, signal);
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
      const got = this.historyTails.assemble(instance, executionId, r.o_history as string[], r.o_history_complete === true);
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

  async ackOrchestrationItem(
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
    const r = (await this.write(op, this.sqlText.ackOrch, ack.params))[0]!;
    // Messages that arrived during the turn are fetchable now that the lock is gone.
    this.orchestratorWork.notify();
    if (r.o_pending) this.announcer.announce("o");
    if (ack.activities > 0) {
      this.announcer.announce("w");
      this.workerWork.notify();
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
    await this.call(op, this.sqlText.abandonOrch, [lockToken, delay, ignoreAttempt === true]);
    this.announcer.announce(delay > 0 ? `o${delay}` : "o");
    this.wakeIn(this.orchestratorWork, delay);
  }

  async renewOrchestrationItemLock(lockToken: string, extendForMs: number): Promise<void> {
    const op = "renewOrchestrationItemLock";
    validateProviderInput.renewOrchestrationItemLock(lockToken, extendForMs);
    await this.call(op, this.sqlText.renewOrch, [lockToken, extendForMs]);
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
    return this.poll(pollTimeoutMs, this.workerWork, async () => {
      for (;;) {
        const r = (await this.call(op, this.sqlText.fetchWork, params))[0]!;
        if (r.o_token === null) return { found: null, nextDueMs: num(r.o_next_due_ms) };
        try {
          const item = decodeWorkItem(r.o_item as string);
          return { found: { item, lockToken: r.o_token as string, attemptCount: Number(r.o_attempt) }, nextDueMs: null };
        } catch (err) {
          // An undecodable row can never run: park it instead of failing every fetch behind it.
          await this.call(op, this.sqlText.deadLetter, ["worker", r.o_token, null, (err as Error).message]);
        }
      }
    }, signal);
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
    await this.workAcks.submit(ack);
    if (done !== null) {
      this.announcer.announce("o");
      this.orchestratorWork.notify();
    }
  }

  /** One batch of worker acks: one call of ack_work_many; an ack whose lock is gone fails alone. */
  private async sendWorkAcks(acks: WorkAck[]): Promise<Outcome<void>[]> {
    const op = "ackWorkItem";
    const rows = await this.call(op, this.sqlText.ackWorkMany, [
      acks.map((a) => a.token),
      acks.map((a) => a.instance),
      acks.map((a) => a.kind),
      acks.map((a) => a.item),
    ]);
    const applied = new Set((rows[0]!.done as number[]).map(Number));
    return acks.map((a, i) =>
      applied.has(i + 1)
        ? { ok: true, value: undefined }
        : { ok: false, error: ProviderError.lockLost(op, `work item lock ${a.token} is gone: the activity was cancelled, its lock expired, or it was already acked`) },
    );
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
    return Number(rows[0]!.n);
  }

  async cleanupOrphanedSessions(idleTimeoutMs: number): Promise<number> {
    const op = "cleanupOrphanedSessions";
    validateProviderInput.cleanupOrphanedSessions(idleTimeoutMs);
    const rows = await this.call(op, this.sqlText.cleanupSessions, []);
    return Number(rows[0]!.n);
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
      v.events.map((e) => e.event_id),
      v.events.map((e) => e.type),
      v.texts,
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
 * the caller announces after the commit: how many activities the turn enqueued, and when its
 * first orchestrator message becomes visible (ms from now; null when it enqueued none).
 */
function ackParams(
  lockToken: string,
  executionId: number,
  v: ReturnType<typeof validateProviderInput.ackOrchestrationItem>,
): { params: unknown[]; activities: number; firstDelayMs: number | null } {
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
    events.map((e) => e.event_id),
    events.map((e) => e.type),
    v.deltaTexts,
    w.items,
    w.inst,
    w.exec,
    w.act,
    w.sess,
    w.tag,
    o.inst,
    o.kind,
    o.items,
    o.delay,
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
    kv.times,
    v.cancelled.map((c) => c.instance),
    v.cancelled.map((c) => c.execution_id),
    v.cancelled.map((c) => c.activity_id),
  ];
  return { params, activities: w.items.length, firstDelayMs: o.delay.length > 0 ? Math.min(...o.delay) : null };
}

/** Every statement's text, for one schema. */
function statements(q: string) {
  const placeholders = (types: string[]) => types.map((t, i) => `$${i + 1}::${t}`).join(", ");
  return {
    enqueueOrch: `SELECT ${q}.enqueue_orch($1::text, $2::text, $3::text, $4::bigint)`,
    fetchOrch: `SELECT * FROM ${q}.fetch_orch_tail($1::bigint, $2::boolean, $3::bigint[], $4::bigint[], $5::integer)`,
    ackOrch: `SELECT * FROM ${q}.ack_orch(${placeholders([
      "text", "bigint", "bigint[]", "text[]", "text[]",
      "text[]", "text[]", "bigint[]", "bigint[]", "text[]", "text[]",
      "text[]", "text[]", "text[]", "bigint[]",
      "text", "text", "text", "text", "text", "bigint[]",
      "boolean", "text",
      "text[]", "text[]", "text[]", "bigint[]",
      "text[]", "bigint[]", "bigint[]",
    ])})`,
    abandonOrch: `SELECT ${q}.abandon_orch($1::text, $2::bigint, $3::boolean)`,
    renewOrch: `SELECT ${q}.renew_orch($1::text, $2::bigint)`,
    enqueueWorker: `SELECT ${q}.enqueue_worker($1::text, $2::text, $3::bigint, $4::bigint, $5::text, $6::text)`,
    fetchWork: `SELECT * FROM ${q}.fetch_work($1::bigint, $2::text, $3::text[], $4::boolean, $5::text, $6::bigint)`,
    ackWorkMany: `SELECT ${q}.ack_work_many($1::text[], $2::text[], $3::text[], $4::text[]) AS done`,
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
      SELECT $1::text, $2::bigint, e.id, e.t, e.d, ${q}.now_ms() FROM unnest($3::bigint[], $4::text[], $5::text[]) AS e(id, t, d)`,
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
