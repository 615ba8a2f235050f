// Runs the exported suite the way a third-party provider repo does: a separate package that
// depends on duroxide by path and imports "duroxide/provider-tests" and "duroxide/sqlite".
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const root = resolve(import.meta.dir, "../..");
const dir = mkdtempSync(join(tmpdir(), "duroxide-provider-repo-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const FACTORY_FILE = `
import { runAllTests } from "duroxide/provider-tests";
import { SqliteProvider } from "duroxide/sqlite";

let last;
await runAllTests({
  createProvider: async () => (last = await SqliteProvider.inMemory()),
  lockTimeoutMs: () => 1000,
  corruptInstanceHistory: async (id) => {
    last.db.run("UPDATE history SET event_data = 'NOT_VALID_JSON{{{' WHERE instance_id = ?", [id]);
    last.invalidateCache(id); // direct SQL bypasses the provider's cache of decoded history
  },
  getMaxAttemptCount: async (id) =>
    last.db.query("SELECT MAX(attempt_count) AS m FROM orchestrator_queue WHERE instance_id = ?").get(id)?.m ?? 0,
});
`;

test("a provider repo depending on duroxide by path runs the whole exported suite", async () => {
  writeFileSync(
    join(dir, "package.json"),
    JSON.stringify({ name: "my-provider", private: true, type: "module", dependencies: { duroxide: `file:${root}` } }),
  );
  writeFileSync(join(dir, "provider.test.js"), FACTORY_FILE);
  const install = Bun.spawnSync(["bun", "install"], { cwd: dir, stdout: "pipe", stderr: "pipe" });
  expect(install.exitCode, install.stderr.toString()).toBe(0);

  const run = Bun.spawn(["bun", "test"], { cwd: dir, stdout: "pipe", stderr: "pipe" });
  const [out, err] = await Promise.all([new Response(run.stdout).text(), new Response(run.stderr).text()]);
  const code = await run.exited;
  const summary = out + err;
  const count = (word: string) => Number(new RegExp(`^\\s*(\\d+) ${word}$`, "m").exec(summary)?.[1] ?? -1);
  expect(code, summary.slice(-3000)).toBe(0);
  expect(count("fail")).toBe(0);
  // 213 catalog cases + the port's own cases; SQLite long-polls, so nothing is skipped.
  expect(count("pass")).toBeGreaterThanOrEqual(213);
  expect(Math.max(count("skip"), 0)).toBe(0); // bun omits the skip line when there are none
}, 180_000);
