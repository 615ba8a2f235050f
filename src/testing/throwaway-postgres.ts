/**
 * A throw-away PostgreSQL server for tests and ad hoc stress runs: `initdb` into a temporary
 * directory, `pg_ctl start` on a free loopback port, stopped and deleted by `stop()` (and at
 * process exit, if the caller forgot). Started from the server binaries on this machine: PATH
 * first, then `/usr/lib/postgresql/<version>/bin`, newest version first. `initdb` refuses to run
 * as root, so under root the server runs as the `postgres` OS user (Debian's package creates it).
 *
 * `pgTestUrl()` is what test files call: `DUROXIDE_PG_URL` when set, otherwise one shared
 * throw-away server per process, or a reason why there is none (the caller skips with it, except
 * under CI, where a missing server is a failure).
 */
import { existsSync, mkdtempSync, readdirSync, rmSync, chownSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface ThrowawayPostgresOptions {
  /**
   * Trade durability for speed (fsync, synchronous_commit and full_page_writes off): for tests,
   * whose data is thrown away anyway. Benchmarks leave it false so commits cost what they cost
   * on a real server. Default false.
   */
  fast?: boolean;
  /** Server's max_connections. Default 200 (tests open many pools). */
  maxConnections?: number;
  /** Where to log the server's output. Default: `server.log` in its data directory. */
  logFile?: string;
}

export interface ThrowawayPostgres {
  /** `postgres://postgres@127.0.0.1:PORT/postgres` */
  readonly url: string;
  readonly port: number;
  readonly dataDir: string;
  /** `pg_ctl restart -m fast`: every connection is cut, the server is back when this resolves. */
  restart(): Promise<void>;
  /** Stops the server and deletes its directory. Idempotent. */
  stop(): Promise<void>;
}

/** The directory with `initdb`, `pg_ctl` and `postgres`, or null when this machine has none. */
export function findPostgresBinaries(): string | null {
  const has = (dir: string) => ["initdb", "pg_ctl", "postgres"].every((b) => existsSync(join(dir, b)));
  for (const dir of (process.env.PATH ?? "").split(":")) if (dir !== "" && has(dir)) return dir;
  const root = "/usr/lib/postgresql";
  if (existsSync(root)) {
    const versions = readdirSync(root)
      .filter((v) => /^\d+$/.test(v))
      .sort((a, b) => Number(b) - Number(a));
    for (const v of versions) if (has(join(root, v, "bin"))) return join(root, v, "bin");
  }
  return null;
}

function isRoot(): boolean {
  return typeof process.getuid === "function" && process.getuid() === 0;
}

/** uid/gid of the `postgres` OS user, read from /etc/passwd; null when it does not exist. */
function postgresUser(): { uid: number; gid: number } | null {
  try {
    for (const line of readFileSync("/etc/passwd", "utf8").split("\n")) {
      const f = line.split(":");
      if (f[0] === "postgres") return { uid: Number(f[2]), gid: Number(f[3]) };
    }
  } catch {
    // no /etc/passwd: not a system we can start a server on as root
  }
  return null;
}

async function freePort(): Promise<number> {
  const server = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = server.port;
  server.stop(true);
  return port;
}

function run(argv: string[], asPostgres: boolean): { ok: boolean; out: string } {
  const cmd = asPostgres ? ["runuser", "-u", "postgres", "--", ...argv] : argv;
  const r = Bun.spawnSync(cmd, { stdout: "pipe", stderr: "pipe", cwd: tmpdir() });
  return { ok: r.exitCode === 0, out: `${r.stdout.toString()}${r.stderr.toString()}`.trim() };
}

/** Starts a fresh server. Throws with the reason (and the server's own words) when it cannot. */
export async function startThrowawayPostgres(options: ThrowawayPostgresOptions = {}): Promise<ThrowawayPostgres> {
  const bin = findPostgresBinaries();
  if (bin === null) {
    throw new Error("no PostgreSQL server binaries (initdb, pg_ctl, postgres) on PATH or in /usr/lib/postgresql/*/bin: install Debian's `postgresql` package or set DUROXIDE_PG_URL");
  }
  const asPostgres = isRoot();
  const user = asPostgres ? postgresUser() : null;
  if (asPostgres && user === null) {
    throw new Error("running as root, and initdb refuses root, but there is no `postgres` OS user to run the server as: install Debian's `postgresql` package or set DUROXIDE_PG_URL");
  }
  const dir = mkdtempSync(join(tmpdir(), "duroxide-pg-"));
  const dataDir = join(dir, "data");
  if (user !== null) chownSync(dir, user.uid, user.gid);
  const init = run([join(bin, "initdb"), "-D", dataDir, "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync"], asPostgres);
  if (!init.ok) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`initdb failed: ${init.out}`);
  }
  const port = await freePort();
  const settings = [
    `-p ${port}`,
    `-k ${dir}`,
    "-c listen_addresses=127.0.0.1",
    `-c max_connections=${options.maxConnections ?? 200}`,
    ...(options.fast ? ["-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off"] : []),
  ].join(" ");
  const logFile = options.logFile ?? join(dir, "server.log");
  const pgCtl = (action: string, ...extra: string[]) =>
    run([join(bin, "pg_ctl"), "-D", dataDir, "-w", "-t", "60", "-l", logFile, "-o", settings, ...extra, action], asPostgres);
  const started = pgCtl("start");
  if (!started.ok) {
    const log = existsSync(logFile) ? readFileSync(logFile, "utf8").slice(-2000) : "";
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`pg_ctl start failed: ${started.out}\n${log}`);
  }

  let stopped = false;
  const stopNow = () => {
    if (stopped) return;
    stopped = true;
    watchdog.kill();
    pgCtl("stop", "-m", "immediate");
    rmSync(dir, { recursive: true, force: true });
  };
  // A run that ends without calling stop() must not leave a server behind: at exit, and, for a
  // process that is killed (no exit handler runs), a detached watchdog that stops the server and
  // deletes its directory once this process is gone.
  process.once("exit", stopNow);
  const asUser = asPostgres ? "runuser -u postgres -- " : "";
  const watchdog = Bun.spawn(
    [
      "sh",
      "-c",
      `while kill -0 ${process.pid} 2>/dev/null; do sleep 1; done; ${asUser}"${join(bin, "pg_ctl")}" -D "${dataDir}" stop -m immediate >/dev/null 2>&1; rm -rf "${dir}"`,
    ],
    { stdin: "ignore", stdout: "ignore", stderr: "ignore", detached: true },
  );
  watchdog.unref();
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    dataDir,
    async restart() {
      const r = pgCtl("restart", "-m", "fast");
      if (!r.ok) throw new Error(`pg_ctl restart failed: ${r.out}`);
    },
    async stop() {
      stopNow();
    },
  };
}

let shared: Promise<{ url: string; server: ThrowawayPostgres | null } | { reason: string }> | null = null;

/**
 * The server the PostgreSQL tests of this process use: `DUROXIDE_PG_URL` when set, otherwise a
 * throw-away server (fast settings) started on first call and shared by every test file of the
 * process. Resolves to `{ reason }` when neither is possible.
 */
export function pgTestUrl(): Promise<{ url: string; server: ThrowawayPostgres | null } | { reason: string }> {
  shared ??= (async () => {
    const fromEnv = process.env.DUROXIDE_PG_URL;
    if (fromEnv) return { url: fromEnv, server: null };
    try {
      const server = await startThrowawayPostgres({ fast: true });
      return { url: server.url, server };
    } catch (err) {
      return { reason: (err as Error).message };
    }
  })();
  return shared;
}
