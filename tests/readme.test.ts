// The README's hello world must run exactly as written: extract the code block, run it as a
// script inside this package (so "duroxide" resolves to it), in an empty working directory.
import { afterAll, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const root = resolve(import.meta.dir, "..");
const scratch = join(root, ".readme-check");
const cwd = mkdtempSync(join(tmpdir(), "duroxide-readme-"));
afterAll(() => {
  rmSync(scratch, { recursive: true, force: true });
  rmSync(cwd, { recursive: true, force: true });
});

function helloWorldBlock(): string {
  const readme = readFileSync(join(root, "README.md"), "utf8");
  const section = readme.slice(readme.indexOf("## Hello world"));
  const m = /```ts\n([\s\S]*?)```/.exec(section);
  if (m === null) throw new Error("README has no ts code block under '## Hello world'");
  return m[1]!;
}

test("the README hello world runs as written and prints Completed Hello, Bun!", () => {
  mkdirSync(scratch, { recursive: true });
  const file = join(scratch, "hello-world.ts");
  writeFileSync(file, helloWorldBlock());
  const run = Bun.spawnSync([process.execPath, file], { cwd, stdout: "pipe", stderr: "pipe" });
  expect(run.exitCode, run.stderr.toString()).toBe(0);
  expect(run.stdout.toString()).toContain("Completed Hello, Bun!");
}, 30_000);
