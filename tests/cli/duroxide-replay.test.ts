// `duroxide replay --module FILE` (src/cli/commands-replay.ts): the pre-deploy replay check over a
// store, run as a child process against histories recorded by a real runtime, with the recorded
// code (everything fits, exit 0) and a deliberately changed deploy (fixtures/orchestrations-changed.ts).
import { Database } from "bun:sqlite";
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SqliteProvider } from "../../src/providers/sqlite.ts";
import { Client } from "../../src/client.ts";
import { duroxide, FIXTURES, HOSTILE_ID, prepareStore } from "./cli-harness.ts";

const dir = mkdtempSync(join(tmpdir(), "duroxide-cli-replay-"));
const db = join(dir, "store.db");
const env = { DUROXIDE_STORE: db };
const ORIGINAL = join(FIXTURES, "orchestrations.ts");
const CHANGED = join(FIXTURES, "orchestrations-changed.ts");

beforeAll(async () => {
  await prepareStore(db);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("duroxide replay", () => {
  test("the recorded code fits every running instance (exit 0); the changed code is refused naming event, history and code (exit 1)", async () => {
    const p = await SqliteProvider.open(db);
    const approval = await new Client(p).readExecutionHistory("approval-1");
    p.close();
    const greet = approval.find((e) => e.type === "ActivityScheduled")!;
    const [same, changed, changedJson] = await Promise.all([
      duroxide(["replay", "--module", ORIGINAL, "--verbose"], env),
      duroxide(["replay", "--module", CHANGED], env),
      duroxide(["replay", "--module", CHANGED, "--json"], env),
    ]);
    expect(same.code).toBe(0);
    expect(same.out).toContain("3 running instances checked: 3 fit, 0 diverge");
    expect(same.out).toMatch(/approval-1\s+Approval 1\.0\.0\s+1\s+fits/);
    expect(changed.code).toBe(1);
    expect(changed.out).toMatch(new RegExp(`approval-1\\s+Approval 1\\.0\\.0\\s+1\\s+diverges at event ${greet.event_id}`));
    expect(changed.out).toContain('approval-1: history has activity "Greet" with input "Grace", but the code scheduled a timer');
    expect(changed.out).toContain("3 running instances checked: 1 fit, 2 diverge");
    expect(changed.out).not.toContain("family-1  "); // fitting instances are listed only with --verbose
    const j = JSON.parse(changedJson.out);
    expect(j).toMatchObject({ checked: 3, fits: 1, diverges: 2, unreadable: 0 });
    expect(j.results.find((r: { instanceId: string }) => r.instanceId === "approval-1")).toMatchObject({
      result: "diverges",
      executionId: 1,
      orchestration: "Approval",
      version: "1.0.0",
      eventId: greet.event_id,
      historyHas: 'activity "Greet" with input "Grace"',
      codeDid: "scheduled a timer",
    });
  });

  test("an instance whose history cannot be read is unreadable and fails the check (exit 1): it was not checked", async () => {
    const broken = join(dir, "broken.db");
    const src = new Database(db);
    src.run(`VACUUM INTO '${broken}'`);
    src.close();
    const b = new Database(broken);
    b.run("UPDATE history SET event_data = '{not json' WHERE instance_id = 'approval-2' AND event_id = 1");
    b.close();
    const [text, json] = await Promise.all([
      duroxide(["replay", "--module", ORIGINAL, "--store", broken]),
      duroxide(["replay", "--module", ORIGINAL, "--store", broken, "--json"]),
    ]);
    expect(text.code, text.out + text.err).toBe(1);
    expect(text.out).toMatch(/approval-2\s+\?\s+\?\s+unreadable/);
    expect(text.out).toContain("3 running instances checked: 2 fit, 0 diverge, 1 unreadable");
    expect(text.out).toContain("unreadable instances were not checked");
    expect(json.code).toBe(1);
    expect(JSON.parse(json.out)).toMatchObject({ checked: 3, fits: 2, diverges: 0, unreadable: 1 });
  });

  test("--all checks finished instances too: a changed result is a divergence at the completion event", async () => {
    const r = await duroxide(["replay", "--module", CHANGED, "--all", "--json"], env);
    expect(r.code).toBe(1);
    const j = JSON.parse(r.out);
    expect(j.checked).toBe(10);
    const hello = j.results.find((x: { instanceId: string }) => x.instanceId === "hello-1");
    expect(hello).toMatchObject({ result: "diverges", eventId: 4, historyHas: 'a completion with output "Hello, Ada!"', codeDid: 'completed with output "HELLO, ADA!"' });
    expect(j.results.find((x: { instanceId: string }) => x.instanceId === HOSTILE_ID).result).toBe("diverges");
    expect(j.results.find((x: { instanceId: string }) => x.instanceId === "loop-1").result).toBe("fits");
    expect(j.results.find((x: { instanceId: string }) => x.instanceId === "boom-1").result).toBe("fits");
  });

  test("a module without orchestrations, a missing module, or no --module is refused with what to do", async () => {
    const [none, missing, noFlag] = await Promise.all([
      duroxide(["replay", "--module", join(FIXTURES, "not-orchestrations.ts")], env),
      duroxide(["replay", "--module", join(dir, "nope.ts")], env),
      duroxide(["replay"], env),
    ]);
    expect(none.code).toBe(1);
    expect(none.err).toContain("must export its orchestrations as `export const orchestrations = OrchestrationRegistry.builder()...build()`");
    expect(missing.code).toBe(1);
    expect(missing.err).toContain("does not exist");
    expect(noFlag.code).toBe(2);
    expect(noFlag.err).toContain("replay needs --module FILE");
  });
});
