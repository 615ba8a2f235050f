// The duroxide CLI (scripts/duroxide.ts, docs/cli.md) run as a user runs it: a child process on a
// SQLite file recorded by a real runtime (cli-harness.ts). Read commands first, then the ones that
// change the store, checked by a runtime acting on what the CLI sent.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Event } from "../../src/core/events.ts";
import { SqliteProvider } from "../../src/providers/sqlite.ts";
import { Client } from "../../src/client.ts";
import { BIG_NAME, duroxide, HOSTILE_ID, prepareStore, withRuntime } from "./cli-harness.ts";

const dir = mkdtempSync(join(tmpdir(), "duroxide-cli-test-"));
const db = join(dir, "store.db");
const env = { DUROXIDE_STORE: db };
const ESC = "\u001b";

beforeAll(async () => {
  await prepareStore(db);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function history(id: string): Promise<Event[]> {
  const p = await SqliteProvider.open(db);
  try {
    return await new Client(p).readExecutionHistory(id);
  } finally {
    p.close();
  }
}

describe("duroxide usage and exit statuses", () => {
  test("--help for the tool and each command exits 0; bad usage exits 2 with the reason; a missing store or instance exits 1", async () => {
    const [help, listHelp, helpTopic, none, unknown, badLimit, missingArg, extraArg, badFlag, noStore, missingFile, notFound, badStatus, badId] = await Promise.all([
      duroxide(["--help"]),
      duroxide(["list", "--help"]),
      duroxide(["help", "history"]),
      duroxide([]),
      duroxide(["frob\u001b[2Jnicate"], env),
      duroxide(["list", "--limit", "0"], env),
      duroxide(["show"], env),
      duroxide(["show", "a", "b"], env),
      duroxide(["list", "--frob"], env),
      duroxide(["list"], { DUROXIDE_STORE: undefined }),
      duroxide(["list", "--store", join(dir, "nope.db")]),
      duroxide(["show", "no-such-instance"], env),
      duroxide(["list", "--status", "sleeping"], env),
      duroxide(["raise", " ", "approve"], env),
    ]);
    expect(help.code).toBe(0);
    for (const name of ["list", "show", "history", "raise", "enqueue", "cancel", "delete", "prune", "queues", "metrics", "replay"]) expect(help.out).toContain(`  ${name} `);
    expect(listHelp).toMatchObject({ code: 0 });
    expect(listHelp.out).toContain("duroxide list [--status S] [--limit N]");
    expect(helpTopic.out).toContain("duroxide history ID [--execution N]");
    expect(none.code).toBe(2);
    expect(none.err).toContain("no command given");
    expect(unknown.code).toBe(2);
    expect(unknown.err).toContain('unknown command "frob\\x1b[2Jnicate"'); // shown escaped, never obeyed
    expect(unknown.err).not.toContain(ESC);
    expect(badLimit.code).toBe(2);
    expect(badLimit.err).toContain("--limit must be an integer from 1");
    expect(missingArg.code).toBe(2);
    expect(missingArg.err).toContain("show takes 1 argument, got 0");
    expect(extraArg.code).toBe(2);
    expect(badFlag.code).toBe(2);
    expect(badFlag.err).toContain("--frob");
    expect(noStore.code).toBe(2);
    expect(noStore.err).toContain("no store given");
    expect(missingFile.code).toBe(1);
    expect(missingFile.err).toContain("does not exist");
    expect(notFound.code).toBe(1);
    expect(notFound.err).toContain("instance no-such-instance not found");
    expect(badStatus.code).toBe(2);
    expect(badStatus.err).toContain("--status must be one of Running, Completed, Failed, ContinuedAsNew");
    expect(badId.code).toBe(2);
    expect(badId.err).toContain("instanceId must not be only whitespace");
  });
});

describe("duroxide list", () => {
  test("aligned columns with every instance, ids with escapes shown escaped; --status, --limit and --json", async () => {
    const [text, json, failed, limited, viaFlag] = await Promise.all([
      duroxide(["list"], env),
      duroxide(["list", "--json"], env),
      duroxide(["list", "--status", "failed", "--json"], env),
      duroxide(["list", "--limit", "2"], env),
      duroxide(["--store", `sqlite:${db}`, "list", "--status", "Running"]),
    ]);
    expect(text.code).toBe(0);
    const lines = text.out.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^INSTANCE\s+ORCHESTRATION\s+VERSION\s+STATUS\s+EXEC\s+UPDATED\s+PARENT$/);
    // Aligned: the STATUS column starts at the same offset on every row.
    const statusAt = lines[0]!.indexOf("STATUS");
    const boom = lines.find((l) => l.startsWith("boom-1"))!;
    expect(boom.slice(statusAt)).toStartWith("Failed");
    expect(text.out).toContain("evil\\x1b[31m-red");
    expect(text.out).not.toContain(ESC);
    expect(text.out).toContain("family-1::sub::2"); // a child, with its parent in the last column
    expect(lines.find((l) => l.startsWith("family-1::sub::2"))).toEndWith("family-1");

    expect(json.code).toBe(0);
    const infos = JSON.parse(json.out) as { instance_id: string; status: string }[];
    expect(infos.map((i) => i.instance_id).sort()).toEqual(
      ["approval-1", "approval-2", "big-1", "boom-1", "family-1", "family-1::sub::2", "family-1::sub::4", "hello-1", "loop-1", HOSTILE_ID].sort(),
    );
    expect(json.out).not.toContain(ESC); // JSON escapes it as \u001b
    expect((JSON.parse(failed.out) as { instance_id: string }[]).map((i) => i.instance_id)).toEqual(["boom-1"]);
    expect(limited.out.trimEnd().split("\n")).toHaveLength(4); // header, two rows, "(8 more ...)"
    expect(limited.out).toContain("(8 more; raise --limit to see them)");
    expect(viaFlag.code).toBe(0);
    expect(viaFlag.out).toContain("approval-1");
    expect(viaFlag.out).not.toContain("hello-1");
  });

  test("colour only when asked for (FORCE_COLOR) and never under NO_COLOR", async () => {
    const [forced, noColor] = await Promise.all([duroxide(["list"], { ...env, FORCE_COLOR: "1" }), duroxide(["list"], { ...env, FORCE_COLOR: "1", NO_COLOR: "1" })]);
    expect(forced.out).toContain(`${ESC}[31mFailed`);
    // The hostile id stays escaped even with colour on.
    expect(forced.out).toContain("evil\\x1b[31m-red");
    expect(noColor.out).not.toContain(ESC);
  });
});

describe("duroxide show", () => {
  test("output, error, custom status, KV, size, children tree and executions; --json", async () => {
    const [done, failed, waiting, parent, parentJson, loop] = await Promise.all([
      duroxide(["show", "hello-1"], env),
      duroxide(["show", "boom-1"], env),
      duroxide(["show", "approval-1"], env),
      duroxide(["show", "family-1"], env),
      duroxide(["show", "family-1", "--json"], env),
      duroxide(["show", "loop-1", "--json"], env),
    ]);
    expect(done.code).toBe(0);
    expect(done.out).toMatch(/status\s+Completed/);
    expect(done.out).toMatch(/output\s+"Hello, Ada!"/);
    expect(failed.out).toMatch(/status\s+Failed/);
    expect(failed.out).toContain("the card was declined");
    expect(waiting.out).toMatch(/status\s+Running/);
    expect(waiting.out).toMatch(/custom status\s+awaiting approval \(v1\)/);
    expect(waiting.out).toMatch(/stage\s+"waiting"/);
    expect(waiting.out).toMatch(/kv\s+1 keys/);
    expect(parent.out).toContain("Children");
    expect(parent.out).toMatch(/├─ family-1::sub::2\s+Hello\s+Completed/);
    expect(parent.out).toMatch(/└─ family-1::sub::4\s+Hello\s+Completed/);
    const j = JSON.parse(parentJson.out);
    expect(j.info).toMatchObject({ instance_id: "family-1", status: "Running" });
    expect(j.children.map((c: { instanceId: string }) => c.instanceId)).toEqual(["family-1::sub::2", "family-1::sub::4"]);
    expect(j.stats).toMatchObject({ instanceId: "family-1", executionCount: 1, queuePendingCount: 0 });
    expect(j.stats.historyEventCount).toBe((await history("family-1")).length);
    const l = JSON.parse(loop.out);
    expect(l.executions.map((e: { execution_id: number; status: string }) => [e.execution_id, e.status])).toEqual([
      [1, "ContinuedAsNew"],
      [2, "ContinuedAsNew"],
      [3, "Completed"],
    ]);
    expect(l.status).toMatchObject({ status: "Completed", output: 2 });
  });
});

describe("duroxide history", () => {
  test("a timeline of event ids, relative times, names and short payloads; --json is the stored events; --execution", async () => {
    const [text, big, json, exec1, exec9] = await Promise.all([
      duroxide(["history", "approval-1"], env),
      duroxide(["history", "big-1"], env),
      duroxide(["history", "approval-1", "--json"], env),
      duroxide(["history", "loop-1", "--execution", "1"], env),
      duroxide(["history", "loop-1", "--execution", "9"], env),
    ]);
    expect(text.code).toBe(0);
    const events = await history("approval-1");
    expect(text.out).toMatch(/^approval-1 {2}execution 1 {2}started .* {2}\d+ events/);
    expect(text.out).toMatch(/#1\s+\+0\.000s\s+OrchestrationStarted\s+"Approval" 1\.0\.0 input "Grace"/);
    const scheduled = events.find((e) => e.type === "ActivityScheduled")!;
    const completed = events.find((e) => e.type === "ActivityCompleted")!;
    expect(text.out).toMatch(new RegExp(`#${scheduled.event_id}\\s+\\+\\d+\\.\\d+s\\s+ActivityScheduled\\s+"Greet" input "Grace"`));
    expect(text.out).toMatch(new RegExp(`#${completed.event_id}\\s+\\+\\d+\\.\\d+s\\s+ActivityCompleted\\s+result "Hello, Grace!" \\(of #${scheduled.event_id}\\)`));
    expect(text.out).toContain('ExternalSubscribed');
    expect(text.out).toContain('"approve"');
    // A 5 kB input is cut on its line, saying how long it was.
    expect(big.out).toContain(`… (${BIG_NAME.length + 2} chars)`);
    expect(big.out.length).toBeLessThan(3_000);
    expect(JSON.parse(json.out)).toEqual(events);
    expect(exec1.code).toBe(0);
    expect(exec1.out).toContain("OrchestrationContinuedAsNew");
    expect(exec1.out).toMatch(/^loop-1 {2}execution 1 /);
    expect(exec9.code).toBe(1);
    expect(exec9.err).toContain("has no execution 9 (its current execution is 3)");
  });
});

describe("duroxide queues and metrics", () => {
  test("queue depths and the store's counts, as text and --json", async () => {
    const [q, qj, m, mj] = await Promise.all([duroxide(["queues"], env), duroxide(["queues", "--json"], env), duroxide(["metrics"], env), duroxide(["metrics", "--json"], env)]);
    expect(q.code).toBe(0);
    expect(q.out).toMatch(/^QUEUE\s+DEPTH\norchestrator\s+\d+\nworker\s+\d+/);
    expect(JSON.parse(qj.out)).toMatchObject({ orchestrator_queue: expect.any(Number), worker_queue: expect.any(Number) });
    const metrics = JSON.parse(mj.out);
    expect(metrics.system).toMatchObject({ total_instances: 10, failed_instances: 1 });
    expect(metrics.system.running_instances).toBe(3);
    expect(m.out).toMatch(/instances\s+10/);
    expect(m.out).toMatch(/failed\s+1/);
  });
});

describe("duroxide raise, enqueue, cancel, delete and prune", () => {
  test("refusals exit 1 and change nothing: finished or unknown instances, a running tree without --force, a child", async () => {
    const [raiseDone, raiseUnknown, cancelDone, delRunning, delChild, pruneNoRule, pruneInstancesNoAge] = await Promise.all([
      duroxide(["raise", "hello-1", "approve"], env),
      duroxide(["raise", "ghost", "approve"], env),
      duroxide(["cancel", "boom-1"], env),
      duroxide(["delete", "family-1"], env),
      duroxide(["delete", "family-1::sub::2"], env),
      duroxide(["prune", "loop-1"], env),
      duroxide(["prune", "--instances"], env),
    ]);
    expect(raiseDone.code).toBe(1);
    expect(raiseDone.err).toContain("instance hello-1 is Completed: an event would be dropped");
    expect(raiseUnknown.code).toBe(1);
    expect(raiseUnknown.err).toContain("instance ghost not found");
    expect(cancelDone.code).toBe(1);
    expect(delRunning.code).toBe(1);
    expect(delRunning.err).toContain("pass --force");
    expect(delChild.code).toBe(1);
    expect(delChild.err).toContain("is a sub-orchestration of family-1: delete the root instance instead");
    expect(pruneNoRule.code).toBe(2);
    expect(pruneInstancesNoAge.code).toBe(2);
    expect(pruneInstancesNoAge.err).toContain("needs --older-than");
    const q = JSON.parse((await duroxide(["queues", "--json"], env)).out);
    expect(q.orchestrator_queue).toBe(0);
  });

  test("raise, enqueue and cancel reach the instances: a runtime then finishes them with what was sent", async () => {
    const raised = await duroxide(["raise", "approval-1", "approve", '{"ok":true,"by":"cli"}'], env);
    expect(raised.code).toBe(0);
    expect(raised.out).toContain('raised "approve" on approval-1 with {"ok":true,"by":"cli"}');
    const [enq, cancel] = await Promise.all([duroxide(["enqueue", "family-1", "inbox", "plain words", "--json"], env), duroxide(["cancel", "approval-2", "no longer needed"], env)]);
    expect(enq.code).toBe(0);
    expect(JSON.parse(enq.out)).toEqual({ instanceId: "family-1", queue: "inbox", data: "plain words" });
    expect(cancel.code).toBe(0);
    await withRuntime(db, async (client) => {
      expect(await client.waitForOrchestration("approval-1", { timeoutMs: 10_000 })).toMatchObject({
        status: "Completed",
        output: { greeting: "Hello, Grace!", decision: { ok: true, by: "cli" } },
      });
      expect(await client.waitForOrchestration("family-1", { timeoutMs: 10_000 })).toMatchObject({
        status: "Completed",
        output: { a: "Hello, kid-a!", b: "Hello, kid-b!", note: "plain words" },
      });
      const c = await client.waitForOrchestration("approval-2", { timeoutMs: 10_000 });
      expect(c.status).toBe("Failed");
      if (c.status === "Failed") expect(c.message).toContain("no longer needed");
    });
  });

  test("delete removes a tree; prune drops old executions", async () => {
    const [del, prune] = await Promise.all([duroxide(["delete", "family-1", "--json"], env), duroxide(["prune", "loop-1", "--keep-last", "1", "--json"], env)]);
    expect(del.code).toBe(0);
    expect(JSON.parse(del.out)).toMatchObject({ instances_deleted: 3 });
    expect(prune.code).toBe(0);
    expect(JSON.parse(prune.out)).toMatchObject({ executions_deleted: 2 });
    const [gone, child, loop] = await Promise.all([duroxide(["show", "family-1"], env), duroxide(["show", "family-1::sub::2"], env), duroxide(["show", "loop-1", "--json"], env)]);
    expect(gone.code).toBe(1);
    expect(child.code).toBe(1);
    expect(JSON.parse(loop.out).executions.map((e: { execution_id: number }) => e.execution_id)).toEqual([3]);
  });
});
