// What the CLI tests share: running `bun scripts/duroxide.ts` as a user would (a child process),
// and a SQLite store holding instances in every state, recorded by a real runtime.
import { join } from "node:path";
import { Client } from "../../src/client.ts";
import { SqliteProvider } from "../../src/providers/sqlite.ts";
import { Runtime } from "../../src/runtime/runtime.ts";
import { activities, orchestrations } from "./fixtures/orchestrations.ts";

export const ROOT = join(import.meta.dir, "..", "..");
export const SCRIPT = join(ROOT, "scripts", "duroxide.ts");
export const FIXTURES = join(import.meta.dir, "fixtures");

export interface CliResult {
  code: number;
  out: string;
  err: string;
}

/** `bun scripts/duroxide.ts ...args` in a child process, without a terminal (no colour unless forced). */
export async function duroxide(args: string[], env: Record<string, string | undefined> = {}): Promise<CliResult> {
  const merged: Record<string, string> = {};
  for (const [k, v] of Object.entries({ ...process.env, NO_COLOR: undefined, FORCE_COLOR: undefined, ...env })) if (v !== undefined) merged[k] = v;
  const proc = Bun.spawn([process.execPath, SCRIPT, ...args], { cwd: ROOT, env: merged, stdout: "pipe", stderr: "pipe", stdin: "ignore" });
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code, out, err };
}

/** An instance id with an ANSI escape in it: the CLI must show it escaped, never obey it. */
export const HOSTILE_ID = "evil\u001b[31m-red";
/** A payload far longer than a timeline line. */
export const BIG_NAME = "x".repeat(5_000);

/**
 * A SQLite file with: hello-1 (Completed), big-1 (Completed, 5 kB input), HOSTILE_ID (Completed),
 * boom-1 (Failed), approval-1 and approval-2 (Running, waiting for event "approve", KV and custom
 * status set), family-1 (Running, two completed children, waiting on its "inbox" mailbox), loop-1
 * (Completed after two continue-as-new: three executions).
 */
export async function prepareStore(path: string): Promise<void> {
  const provider = await SqliteProvider.open(path);
  const rt = await Runtime.start(provider, activities, orchestrations);
  try {
    const client = new Client(provider);
    await client.startOrchestration("hello-1", "Hello", "Ada");
    await client.startOrchestration("big-1", "Hello", BIG_NAME);
    await client.startOrchestration(HOSTILE_ID, "Hello", "Mallory");
    await client.startOrchestration("boom-1", "Boom", null);
    await client.startOrchestration("loop-1", "Looping", 0);
    await client.startOrchestration("approval-1", "Approval", "Grace");
    await client.startOrchestration("approval-2", "Approval", "Linus");
    await client.startOrchestration("family-1", "Family", null);
    for (const id of ["hello-1", "big-1", HOSTILE_ID, "boom-1", "loop-1"]) await client.waitForOrchestration(id, { timeoutMs: 10_000 });
    // Custom status is set in the turn that starts waiting: then the history is complete.
    for (const id of ["approval-1", "approval-2", "family-1"]) await client.waitForStatusChange(id, 0, { timeoutMs: 10_000 });
  } finally {
    await rt.shutdown();
    provider.close();
  }
}

/** Opens the store with a runtime until `body` is done (to let it act on what the CLI sent). */
export async function withRuntime<T>(path: string, body: (client: Client) => Promise<T>): Promise<T> {
  const provider = await SqliteProvider.open(path);
  const rt = await Runtime.start(provider, activities, orchestrations);
  try {
    return await body(new Client(provider));
  } finally {
    await rt.shutdown();
    provider.close();
  }
}
