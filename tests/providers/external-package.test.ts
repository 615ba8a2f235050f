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
import { SqliteProvider, sqliteSuiteFactory } from "duroxide/sqlite";

// The corruption hooks come with the factory: the provider's connection is not public.
await runAllTests(sqliteSuiteFactory(() => SqliteProvider.inMemory()));
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
