// scripts/dashboard.ts as a user runs it: bad flags exit 2 with a message saying what to do, and
// --demo --port 0 serves on a free loopback port, prints the URL and stops cleanly on SIGTERM.
import { expect, test } from "bun:test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const script = resolve(import.meta.dir, "../../scripts/dashboard.ts");
const cli = resolve(import.meta.dir, "../../scripts/duroxide.ts");

function run(...args: string[]) {
  const r = Bun.spawnSync([process.execPath, script, ...args], { stdout: "pipe", stderr: "pipe", env: { ...process.env, DUROXIDE_STORE: "" } });
  return { code: r.exitCode, out: r.stdout.toString(), err: r.stderr.toString() };
}

test("scripts/dashboard.ts refuses bad input with exit code 2 and what to do", () => {
  const missing = join(mkdtempSync(join(tmpdir(), "dashboard-script-")), "nope.db");
  const cases: [string[], RegExp][] = [
    [[], /no store given: pass --store/],
    [["--demo", "--port", "http"], /--port must be an integer from 0 to 65535, got "http"/],
    [["--store", missing], /does not exist/],
    [["--store", "mysql://h/db"], /unknown scheme/],
    [["--demo", "--host", "0.0.0.0"], /not a loopback address.*--token TOKEN/],
    [["--demo", "--token", "short"], /token must be 16 to 256 characters/],
    [["--colour"], /Unknown option '--colour'/],
  ];
  for (const [args, message] of cases) {
    const r = run(...args);
    expect(r.code, `${args.join(" ")}: ${r.err}`).toBe(2);
    expect(r.err).toMatch(message);
  }
});

for (const [name, argv] of [
  ["scripts/dashboard.ts", [script]],
  ["duroxide dashboard", [cli, "dashboard"]],
] as const) {
test(`${name} --demo --port 0 prints a loopback URL that serves the dashboard, and stops on SIGTERM`, async () => {
  const proc = Bun.spawn([process.execPath, ...argv, "--demo", "--port", "0"], { stdout: "pipe", stderr: "pipe" });
  try {
    const reader = proc.stdout.getReader();
    let text = "";
    while (!/http:\/\/\S+\n/.test(text)) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`exited before printing its URL: ${await new Response(proc.stderr).text()}`);
      text += new TextDecoder().decode(value);
    }
    const url = /(http:\/\/127\.0\.0\.1:\d+\/)/.exec(text)?.[1];
    expect(url).toBeDefined();
    const list = await (await fetch(`${url}api/instances`)).json();
    expect((list as { counts: { all: number } }).counts.all).toBeGreaterThan(0);
    proc.kill("SIGTERM");
    expect(await proc.exited).toBe(0);
  } finally {
    proc.kill();
  }
});
}

test("duroxide dashboard refuses bad flags with exit code 2, like the script", () => {
  const r = Bun.spawnSync([process.execPath, cli, "dashboard", "--demo", "--port", "http"], { stdout: "pipe", stderr: "pipe" });
  expect(r.exitCode).toBe(2);
  expect(r.stderr.toString()).toMatch(/--port must be an integer from 0 to 65535/);
});

test("a store that cannot be opened exits 1 with one message saying what to check, not a stack trace", () => {
  const dir = mkdtempSync(join(tmpdir(), "dashboard-script-"));
  const notDb = join(dir, "notes.txt");
  writeFileSync(notDb, "not a database");
  for (const [store, message] of [
    [dir, /^dashboard: cannot open database .*SQLITE_CANTOPEN.*names a file, not a directory\n$/],
    [notDb, /^dashboard: database .* is not a SQLite database \(SQLITE_NOTADB/],
  ] as const) {
    const r = run("--store", store, "--port", "0");
    expect(r.code, r.err).toBe(1);
    expect(r.err).toMatch(message);
    expect(r.err).not.toMatch(/^\s+at /m);
  }
});
