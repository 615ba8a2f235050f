/**
 * Shared by the PostgreSQL tests in this folder: fresh schema names, and child processes whose
 * stdout is read line by line while they run (conditions on the lines are awaited, never slept on).
 */
import { afterAll, test } from "bun:test";
import { SQL } from "bun";
import { join } from "node:path";
import { PostgresProvider } from "../../src/providers/postgres.ts";
import type { PgAvailability } from "../providers/postgres-server.ts";

export const REPO_ROOT = join(import.meta.dir, "..", "..");

/** `test_<16 hex>`: a schema of its own for each test file (or test). */
export function freshSchema(): string {
  return `test_${crypto.randomUUID().replaceAll("-", "").slice(0, 16)}`;
}

/** A `bun <script> ...args` child; every stdout line goes to `lines` and to the current listeners. */
export class Child {
  readonly proc: ReturnType<typeof Bun.spawn>;
  readonly lines: string[] = [];
  private stderrText = "";
  private readonly listeners = new Set<() => void>();
  private ended = false;
  readonly exited: Promise<number>;

  constructor(
    readonly name: string,
    script: string,
    args: string[],
  ) {
    const proc = Bun.spawn([process.execPath, script, ...args], { stdout: "pipe", stderr: "pipe", cwd: REPO_ROOT });
    this.proc = proc;
    const pumped = Promise.all([this.pump(), this.pumpStderr()]);
    this.exited = (async () => {
      const code = await proc.exited;
      await pumped;
      this.ended = true;
      this.emit();
      return code;
    })();
  }

  private emit(): void {
    for (const l of [...this.listeners]) l();
  }

  private async pump(): Promise<void> {
    const decoder = new TextDecoder();
    let buffered = "";
    for await (const chunk of this.proc.stdout as ReadableStream<Uint8Array>) {
      buffered += decoder.decode(chunk, { stream: true });
      let nl: number;
      let any = false;
      while ((nl = buffered.indexOf("\n")) >= 0) {
        this.lines.push(buffered.slice(0, nl));
        buffered = buffered.slice(nl + 1);
        any = true;
      }
      if (any) this.emit();
    }
    if (buffered !== "") {
      this.lines.push(buffered);
      this.emit();
    }
  }

  private async pumpStderr(): Promise<void> {
    const decoder = new TextDecoder();
    for await (const chunk of this.proc.stderr as ReadableStream<Uint8Array>) this.stderrText += decoder.decode(chunk, { stream: true });
  }

  get stderr(): string {
    return this.stderrText;
  }

  get hasExited(): boolean {
    return this.ended;
  }

  /** Calls `listener` after every batch of new lines and once when the child exits; returns the unsubscribe. */
  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Lines starting with `prefix + " "`, with the prefix removed. */
  linesOf(prefix: string): string[] {
    return this.lines.filter((l) => l.startsWith(`${prefix} `)).map((l) => l.slice(prefix.length + 1));
  }

  kill(signal: number | NodeJS.Signals = "SIGKILL"): void {
    if (!this.ended) this.proc.kill(signal);
  }

  describe(): string {
    return `${this.name} (pid ${this.proc.pid}): last stdout lines:\n${this.lines.slice(-5).join("\n")}\nstderr:\n${this.stderrText.slice(-3000)}`;
  }
}

/**
 * Resolves when `condition()` holds, re-checked whenever any of `children` prints or exits;
 * rejects after `timeoutMs` or when a child exits while the condition does not hold (unless
 * `allowExit`), with what the children printed.
 */
export function until(children: Child[], condition: () => boolean, what: string, timeoutMs: number, allowExit = false): Promise<void> {
  return new Promise((resolve, reject) => {
    const unsubscribes: (() => void)[] = [];
    const finish = (err?: Error) => {
      clearTimeout(timer);
      for (const u of unsubscribes) u();
      if (err) reject(err);
      else resolve();
    };
    const details = () => children.map((c) => c.describe()).join("\n---\n");
    const check = () => {
      let ok: boolean;
      try {
        ok = condition();
      } catch (err) {
        return finish(err as Error);
      }
      if (ok) return finish();
      const gone = children.find((c) => c.hasExited);
      if (gone && !allowExit) finish(new Error(`${gone.name} exited before ${what}\n${details()}`));
    };
    const timer = setTimeout(() => finish(new Error(`timed out after ${timeoutMs} ms waiting for ${what}\n${details()}`)), timeoutMs);
    for (const c of children) unsubscribes.push(c.subscribe(check));
    check();
  });
}

/** Whether `p` settled by the next macrotask: "pending" while its caller still waits. */
export async function state(p: Promise<unknown>): Promise<"resolved" | "rejected" | "pending"> {
  let s: "resolved" | "rejected" | "pending" = "pending";
  p.then(() => (s = "resolved"), () => (s = "rejected"));
  await new Promise((r) => setImmediate(r));
  return s;
}

/** Resolves with the value, or rejects naming `what` after `ms`. */
export async function within<T>(what: string, p: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export interface QueryRecord {
  op: string;
  start: number;
  /** performance.now() when the query settled; 0 while it runs. */
  end: number;
}

/**
 * Records every SQL round trip a PostgresProvider makes (its private `call`, wrapped on the
 * instance), so a test can see when a long-polling fetch has looked at the queue and gone to
 * sleep, and whether it looked again (a wake-up) before its poll timeout.
 */
export function spyQueries(provider: object): { records: QueryRecord[]; settled(op: string, count?: number): Promise<void>; count(op: string): number } {
  type Call = (op: string, text: string, params: unknown[]) => Promise<unknown[]>;
  const target = provider as { call: Call };
  const original = target.call.bind(provider);
  const records: QueryRecord[] = [];
  const waiters = new Set<() => void>();
  target.call = async (op, text, params) => {
    const r: QueryRecord = { op, start: performance.now(), end: 0 };
    records.push(r);
    try {
      return await original(op, text, params);
    } finally {
      r.end = performance.now();
      for (const w of [...waiters]) w();
    }
  };
  const count = (op: string) => records.filter((r) => r.op === op).length;
  return {
    records,
    count,
    /** Resolves once `count` queries of `op` (default 1) have settled. */
    settled(op, n = 1) {
      return new Promise((resolve) => {
        const check = () => {
          if (records.filter((r) => r.op === op && r.end > 0).length >= n) {
            waiters.delete(check);
            resolve();
          }
        };
        waiters.add(check);
        check();
      });
    },
  };
}

/**
 * What most PostgreSQL test files share: `connect` opens a provider on a schema (a fresh one by
 * default) with the file's default options, and every provider is closed and every schema dropped
 * after the file; `pgTest` runs a test, or skips it with the reason when no server is available.
 */
export function postgresTestKit(
  pg: PgAvailability,
  defaults: Record<string, unknown>,
): {
  connect(schema?: string, extra?: Record<string, unknown>): Promise<PostgresProvider>;
  pgTest(name: string, fn: () => Promise<void>, timeoutMs?: number): void;
} {
  const opened: PostgresProvider[] = [];
  const schemas = new Set<string>();
  afterAll(async () => {
    if (pg.url === null) return;
    await Promise.all(opened.map((p) => p.close()));
    for (const s of schemas) await PostgresProvider.dropSchema(pg.url, s);
  });
  return {
    async connect(schema = freshSchema(), extra = {}) {
      schemas.add(schema);
      const p = await PostgresProvider.connect(pg.url!, { ...defaults, ...extra, schema });
      opened.push(p);
      return p;
    },
    pgTest(name, fn, timeoutMs = 60_000) {
      if (pg.url === null) test.skip(`${name} [skipped: ${pg.reason}]`, () => {});
      else test(name, fn, timeoutMs);
    },
  };
}

/**
 * Runs `query` alone in a transaction on a connection of its own and returns its first row with
 * the scans of `schema`.`table` it made, read from the transaction's own counters
 * (pg_stat_xact_user_tables), which do not wait for the statistics to be flushed.
 */
export async function scansOfQuery(url: string, schema: string, table: string, query: string): Promise<{ row: Record<string, unknown>; seqScans: number; indexScans: number }> {
  const sql = new SQL(url, { max: 1 });
  try {
    const conn = await sql.reserve();
    try {
      await conn.unsafe("BEGIN");
      const [row] = await conn.unsafe(query);
      const [stats] = await conn.unsafe(
        `SELECT coalesce(sum(seq_scan), 0)::int AS seq, coalesce(sum(idx_scan), 0)::int AS idx FROM pg_stat_xact_user_tables WHERE schemaname = $1 AND relname = $2`,
        [schema, table],
      );
      await conn.unsafe("ROLLBACK");
      return { row, seqScans: stats.seq, indexScans: stats.idx };
    } finally {
      conn.release();
    }
  } finally {
    await sql.close();
  }
}
