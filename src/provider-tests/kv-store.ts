/**
 * kv_store: the instance-scoped key/value store materialized from KV events during ack.
 *
 * Two layers (docs/provider-contract.md §2.11, R15): committed KV (merged state of completed
 * executions, the only source of `kv_snapshot` in fetch) and an overlay for the running execution
 * (tombstones for clears). Client reads see committed + overlay; the overlay merges on a Completed
 * / Failed / ContinuedAsNew ack; pruning never touches KV; instance deletion removes both layers.
 */
import { expect } from "bun:test";
import type { Event } from "../core/events.ts";
import type { ExecutionMetadata, KvEntry, OrchestrationItem } from "../core/queue-types.ts";
import type { WorkItem } from "../core/work-items.ts";
import type { Provider } from "../provider.ts";
import type { ProviderCase, ProviderModule } from "./harness.ts";
import {
  completedEvent,
  continueAsNewItem,
  continuedAsNewEvent,
  event,
  externalRaisedItem,
  fetchOrch,
  kvAllClearedEvent,
  kvClearedEvent,
  kvSetEvent,
  requireAdmin,
  runningMeta,
  startItem,
  startedEvent,
  terminalMeta,
} from "./helpers.ts";

// No case here waits for a lock to lapse, so a long lock keeps slow stores from expiring mid-turn.
const LOCK_MS = 30_000;

// ---------------------------------------------------------------- KV operations

type KvOp =
  | { op: "set"; key: string; value: string; at: number | undefined }
  | { op: "clear"; key: string }
  | { op: "clearAll" };

const set = (key: string, value: string, at?: number): KvOp => ({ op: "set", key, value, at });
const clear = (key: string): KvOp => ({ op: "clear", key });
const clearAll = (): KvOp => ({ op: "clearAll" });

/**
 * Plays one orchestration instance the way the runtime does: a Start turn, then turns carrying KV
 * events (each triggered by a poke message), ending an execution by completion or ContinueAsNew.
 * Event ids are assigned per execution; each turn returns the item its fetch saw, so
 * `kv_snapshot` is the committed state before that turn.
 */
class KvOrch {
  executionId = 1;
  private nextEventId = 1;

  private constructor(
    readonly p: Provider,
    readonly instance: string,
  ) {}

  static async start(p: Provider, instance: string, opts: { parent?: string; kv?: KvOp[] } = {}): Promise<KvOrch> {
    const o = new KvOrch(p, instance);
    const parent = opts.parent ?? null;
    await p.enqueueForOrchestrator(startItem(instance, { parentInstance: parent, parentId: parent === null ? null : 1 }), null);
    const f = await o.fetchOwn();
    expect(f.item.kv_snapshot).toEqual({});
    const started = startedEvent(instance, 1, { parentInstance: parent, parentId: parent === null ? null : 1 });
    o.nextEventId = 2;
    await p.ackOrchestrationItem(
      f.lockToken,
      1,
      [started, ...o.events(opts.kv ?? [])],
      [],
      [],
      runningMeta("TestOrch", "1.0.0", parent === null ? {} : { parent_instance_id: parent }),
      [],
    );
    return o;
  }

  private async fetchOwn() {
    const f = await fetchOrch(this.p, LOCK_MS);
    expect(f.item.instance).toBe(this.instance);
    return f;
  }

  private events(ops: KvOp[]): Event[] {
    return ops.map((o) => {
      const id = this.nextEventId++;
      switch (o.op) {
        case "set":
          return o.at === undefined
            ? kvSetEvent(this.instance, this.executionId, id, o.key, o.value)
            : event(this.instance, this.executionId, id, { type: "KeyValueSet", key: o.key, value: o.value, last_updated_at_ms: o.at });
        case "clear":
          return kvClearedEvent(this.instance, this.executionId, id, o.key);
        case "clearAll":
          return kvAllClearedEvent(this.instance, this.executionId, id);
      }
    });
  }

  /** A poke-triggered turn of the current execution carrying `ops`; returns what its fetch saw. */
  async turn(
    ops: KvOp[] = [],
    end?: { terminal: Event; metadata: ExecutionMetadata; orchestratorItems?: WorkItem[] },
  ): Promise<OrchestrationItem> {
    await this.p.enqueueForOrchestrator(externalRaisedItem(this.instance, "poke", "{}"), null);
    const f = await this.fetchOwn();
    const delta = this.events(ops);
    if (end) delta.push(end.terminal);
    await this.p.ackOrchestrationItem(
      f.lockToken,
      this.executionId,
      delta,
      [],
      end?.orchestratorItems ?? [],
      end?.metadata ?? {},
      [],
    );
    return f.item;
  }

  /** Fetch and ack an empty turn: what the next turn of the current execution would see. */
  peek(): Promise<OrchestrationItem> {
    return this.turn([]);
  }

  /** Ends the current execution as Completed, with `ops` in the completing ack. */
  complete(ops: KvOp[] = []): Promise<OrchestrationItem> {
    const terminalId = this.nextEventId + ops.length;
    return this.turn(ops, {
      terminal: completedEvent(this.instance, this.executionId, terminalId, "done"),
      metadata: terminalMeta("Completed", "done"),
    });
  }

  /**
   * Ends execution N with ContinueAsNew (`ops` in that ack), then runs the turn that starts N+1
   * from the ContinueAsNew message. Returns the item the N+1 start turn fetched.
   */
  async continueAsNew(ops: KvOp[] = []): Promise<OrchestrationItem> {
    const terminalId = this.nextEventId + ops.length;
    await this.turn(ops, {
      terminal: continuedAsNewEvent(this.instance, this.executionId, terminalId, "{}"),
      metadata: terminalMeta("ContinuedAsNew", "{}"),
      orchestratorItems: [continueAsNewItem(this.instance)],
    });
    const f = await this.fetchOwn();
    expect(f.item.messages.map((m) => m.type)).toEqual(["ContinueAsNew"]);
    const next = this.executionId + 1;
    await this.p.ackOrchestrationItem(f.lockToken, next, [startedEvent(this.instance, next)], [], [], runningMeta(), []);
    this.executionId = next;
    this.nextEventId = 2;
    return f.item;
  }
}

/** Snapshot values only, for comparisons that don't care about timestamps. */
function values(snapshot: Record<string, KvEntry>): Record<string, string> {
  return Object.fromEntries(Object.entries(snapshot).map(([k, e]) => [k, e.value]));
}

// ---------------------------------------------------------------- cases

const cases: ProviderCase[] = [
  {
    name: "a KeyValueSet in an ack is readable with getKvValue while the execution is still running (test_kv_set_and_get)",
    async run(ctx) {
      const p = await ctx.createProvider();
      const o = await KvOrch.start(p, "kv-set");
      await o.turn([set("counter", "42")]);
      expect(await p.getKvValue("kv-set", "counter")).toBe("42");
      expect(await p.getKvAllValues("kv-set")).toEqual({ counter: "42" });
    },
  },
  {
    name: "a second KeyValueSet for the same key overwrites the value (test_kv_overwrite)",
    async run(ctx) {
      const p = await ctx.createProvider();
      const o = await KvOrch.start(p, "kv-over");
      await o.turn([set("status", "old")]);
      expect(await p.getKvValue("kv-over", "status")).toBe("old");
      await o.turn([set("status", "new")]);
      expect(await p.getKvValue("kv-over", "status")).toBe("new");
      expect(await p.getKvAllValues("kv-over")).toEqual({ status: "new" });
    },
  },
  {
    name: "KeyValueCleared makes that key read as null and leaves other keys alone (test_kv_clear_single)",
    async run(ctx) {
      const p = await ctx.createProvider();
      const o = await KvOrch.start(p, "kv-clr1");
      await o.turn([set("remove_me", "x"), set("keep", "y")]);
      expect(await p.getKvValue("kv-clr1", "remove_me")).toBe("x");
      await o.turn([clear("remove_me")]);
      expect(await p.getKvValue("kv-clr1", "remove_me")).toBeNull();
      expect(await p.getKvValue("kv-clr1", "keep")).toBe("y");
      expect(await p.getKvAllValues("kv-clr1")).toEqual({ keep: "y" });
    },
  },
  {
    name: "KeyValuesCleared removes every key of the instance (test_kv_clear_all)",
    async run(ctx) {
      const p = await ctx.createProvider();
      const o = await KvOrch.start(p, "kv-clra");
      await o.turn([set("a", "1"), set("b", "2")]);
      expect(await p.getKvAllValues("kv-clra")).toEqual({ a: "1", b: "2" });
      await o.turn([clearAll()]);
      expect(await p.getKvValue("kv-clra", "a")).toBeNull();
      expect(await p.getKvValue("kv-clra", "b")).toBeNull();
      expect(await p.getKvAllValues("kv-clra")).toEqual({});
    },
  },
  {
    name: "getKvValue of a key that was never set returns null (test_kv_get_nonexistent)",
    async run(ctx) {
      const p = await ctx.createProvider();
      const o = await KvOrch.start(p, "kv-none");
      await o.turn([set("other", "v")]);
      expect(await p.getKvValue("kv-none", "nope")).toBeNull();
      expect(await p.getKvValue("kv-none", "other")).toBe("v");
    },
  },
  {
    name: "after execution 1 completes, fetch's kv_snapshot holds both keys with their values and timestamps (test_kv_snapshot_in_fetch)",
    async run(ctx) {
      const p = await ctx.createProvider();
      const o = await KvOrch.start(p, "kv-fetch");
      await o.turn([set("x", "10", 1111), set("y", "20", 2222)]);
      await o.complete();
      const item = await o.peek();
      expect(item.kv_snapshot).toEqual({
        x: { value: "10", last_updated_at_ms: 1111 },
        y: { value: "20", last_updated_at_ms: 2222 },
      });
    },
  },
  {
    name: "a key cleared before the execution completed is absent from the post-completion snapshot (test_kv_snapshot_after_clear_single)",
    async run(ctx) {
      const p = await ctx.createProvider();
      const o = await KvOrch.start(p, "kv-fclr1");
      await o.turn([set("keep", "yes"), set("remove", "bye")]);
      await o.turn([clear("remove")]);
      await o.complete();
      const item = await o.peek();
      expect(values(item.kv_snapshot)).toEqual({ keep: "yes" });
      expect(Object.keys(item.kv_snapshot)).toHaveLength(1);
    },
  },
  {
    name: "after a clear-all and completion the snapshot is empty, including keys committed by an earlier execution (test_kv_snapshot_after_clear_all)",
    async run(ctx) {
      const p = await ctx.createProvider();
      const o = await KvOrch.start(p, "kv-fclra", { kv: [set("a", "1"), set("b", "2")] });
      const e2Start = await o.continueAsNew();
      expect(values(e2Start.kv_snapshot)).toEqual({ a: "1", b: "2" });
      await o.turn([set("c", "3")]);
      await o.turn([clearAll()]);
      await o.complete();
      const item = await o.peek();
      expect(item.kv_snapshot).toEqual({});
      expect(await p.getKvAllValues("kv-fclra")).toEqual({});
    },
  },
  {
    name: "a value overwritten in execution 2 survives pruning execution 1 and is what execution 2 commits (test_kv_execution_id_tracking)",
    requires: ["management"],
    async run(ctx) {
      const p = await ctx.createProvider();
      const admin = requireAdmin(p);
      const o = await KvOrch.start(p, "kv-exec", { kv: [set("shared", "from_exec_1")] });
      expect(await p.getKvValue("kv-exec", "shared")).toBe("from_exec_1");
      await o.continueAsNew();
      await o.turn([set("shared", "from_exec_2")]);
      expect(await p.getKvValue("kv-exec", "shared")).toBe("from_exec_2");

      const pruned = await admin.pruneExecutions("kv-exec", { keep_last: 1 });
      expect(pruned.executions_deleted).toBe(1);
      expect(await admin.listExecutions("kv-exec")).toEqual([2]);
      expect(await p.getKvValue("kv-exec", "shared")).toBe("from_exec_2");

      await o.complete();
      expect(values((await o.peek()).kv_snapshot)).toEqual({ shared: "from_exec_2" });
    },
  },
  {
    name: "clients read execution 2's overwrite of a key set in execution 1, before and after execution 2 completes (test_kv_cross_execution_overwrite)",
    async run(ctx) {
      const p = await ctx.createProvider();
      const o = await KvOrch.start(p, "kv-xexec", { kv: [set("k", "v1")] });
      expect(await p.getKvValue("kv-xexec", "k")).toBe("v1");
      await o.continueAsNew();
      await o.turn([set("k", "v2")]);
      expect(await p.getKvValue("kv-xexec", "k")).toBe("v2");
      expect(await p.getKvAllValues("kv-xexec")).toEqual({ k: "v2" });
      await o.complete();
      expect(await p.getKvValue("kv-xexec", "k")).toBe("v2");
    },
  },
  {
    name: "a key set in e1, cleared in e2 and set again in e3 reads value, null, new value; e3's snapshot lacks it (test_kv_cross_execution_remove_readd)",
    async run(ctx) {
      const p = await ctx.createProvider();
      const o = await KvOrch.start(p, "kv-xrm", { kv: [set("cycle", "exec1")] });
      expect(await p.getKvValue("kv-xrm", "cycle")).toBe("exec1");

      await o.continueAsNew();
      await o.turn([clear("cycle")]);
      expect(await p.getKvValue("kv-xrm", "cycle")).toBeNull();

      // e2's clear must delete the committed key when e2 ends.
      const e3Start = await o.continueAsNew();
      expect(e3Start.kv_snapshot).toEqual({});
      expect(await p.getKvValue("kv-xrm", "cycle")).toBeNull();
      await o.turn([set("cycle", "exec3")]);
      expect(await p.getKvValue("kv-xrm", "cycle")).toBe("exec3");
    },
  },
  {
    name: "pruning execution 1 keeps the value execution 2 wrote over it (test_kv_prune_preserves_overwritten)",
    requires: ["management"],
    async run(ctx) {
      const p = await ctx.createProvider();
      const admin = requireAdmin(p);
      const o = await KvOrch.start(p, "kv-prn1", { kv: [set("survive", "v1")] });
      // A KV event in the ContinueAsNew ack itself is part of what gets committed.
      const e2Start = await o.continueAsNew([set("survive", "v1b")]);
      expect(values(e2Start.kv_snapshot)).toEqual({ survive: "v1b" });
      await o.turn([set("survive", "v2")]);

      const pruned = await admin.pruneExecutions("kv-prn1", { keep_last: 1 });
      expect(pruned.executions_deleted).toBe(1);
      expect(await p.getKvValue("kv-prn1", "survive")).toBe("v2");
      expect(await p.getKvAllValues("kv-prn1")).toEqual({ survive: "v2" });
    },
  },
  {
    name: "a key written only in execution 1 survives pruning execution 1: KV lives as long as the instance (test_kv_prune_preserves_all_keys)",
    requires: ["management"],
    async run(ctx) {
      const p = await ctx.createProvider();
      const admin = requireAdmin(p);
      const o = await KvOrch.start(p, "kv-prn2", { kv: [set("orphan", "survives")] });
      await o.continueAsNew();
      await o.turn([set("keeper", "alive")]);
      expect(await p.getKvAllValues("kv-prn2")).toEqual({ orphan: "survives", keeper: "alive" });

      const pruned = await admin.pruneExecutions("kv-prn2", { keep_last: 1 });
      expect(pruned.executions_deleted).toBe(1);
      expect(await admin.listExecutions("kv-prn2")).toEqual([2]);
      expect(await p.getKvValue("kv-prn2", "orphan")).toBe("survives");
      expect(await p.getKvValue("kv-prn2", "keeper")).toBe("alive");
      expect(values((await o.peek()).kv_snapshot)).toEqual({ orphan: "survives" });
    },
  },
  {
    name: "the same key in two instances holds independent values (test_kv_instance_isolation)",
    async run(ctx) {
      const p = await ctx.createProvider();
      const a = await KvOrch.start(p, "kv-iso-a");
      const b = await KvOrch.start(p, "kv-iso-b");
      await a.turn([set("shared_name", "from_a")]);
      await b.turn([set("shared_name", "from_b")]);
      expect(await p.getKvValue("kv-iso-a", "shared_name")).toBe("from_a");
      expect(await p.getKvValue("kv-iso-b", "shared_name")).toBe("from_b");
      expect(await p.getKvAllValues("kv-iso-a")).toEqual({ shared_name: "from_a" });
      expect(await p.getKvAllValues("kv-iso-b")).toEqual({ shared_name: "from_b" });
    },
  },
  {
    name: "deleting a completed instance removes its KV, so a new instance with the same id starts empty (test_kv_delete_instance_cascades)",
    requires: ["management"],
    async run(ctx) {
      const p = await ctx.createProvider();
      const admin = requireAdmin(p);
      const o = await KvOrch.start(p, "kv-del", { kv: [set("doomed", "bye")] });
      await o.complete();
      expect(await p.getKvValue("kv-del", "doomed")).toBe("bye");

      const result = await admin.deleteInstance("kv-del", false);
      expect(result.instances_deleted).toBe(1);
      expect(await p.getKvValue("kv-del", "doomed")).toBeNull();
      expect(await p.getKvAllValues("kv-del")).toEqual({});

      // Rows must be gone, not just hidden behind the missing instance row.
      const again = await KvOrch.start(p, "kv-del");
      expect(await p.getKvValue("kv-del", "doomed")).toBeNull();
      expect((await again.peek()).kv_snapshot).toEqual({});
    },
  },
  {
    name: "clearing a key that was never set does not fail the ack (test_kv_clear_nonexistent_key)",
    async run(ctx) {
      const p = await ctx.createProvider();
      const o = await KvOrch.start(p, "kv-clrne");
      await o.turn([clear("never_existed"), set("after", "1")]);
      expect(await p.getKvValue("kv-clrne", "never_existed")).toBeNull();
      expect(await p.getKvValue("kv-clrne", "after")).toBe("1");
      // The whole ack committed: the clear event is in history.
      expect((await p.read("kv-clrne")).map((e) => e.type)).toEqual(["OrchestrationStarted", "KeyValueCleared", "KeyValueSet"]);
    },
  },
  {
    name: "KV reads of an unknown instance return null / an empty map instead of failing (test_kv_get_unknown_instance)",
    async run(ctx) {
      const p = await ctx.createProvider();
      expect(await p.getKvValue("no-such-instance", "key")).toBeNull();
      expect(await p.getKvAllValues("no-such-instance")).toEqual({});
    },
  },
  {
    name: "clear-all followed by a set in one ack removes the old keys and keeps the new one (test_kv_set_after_clear)",
    async run(ctx) {
      const p = await ctx.createProvider();
      const o = await KvOrch.start(p, "kv-sac");
      await o.turn([set("old_a", "1"), set("old_b", "2")]);
      await o.turn([clearAll(), set("new_x", "fresh")]);
      expect(await p.getKvValue("kv-sac", "old_a")).toBeNull();
      expect(await p.getKvValue("kv-sac", "old_b")).toBeNull();
      expect(await p.getKvValue("kv-sac", "new_x")).toBe("fresh");
      expect(await p.getKvAllValues("kv-sac")).toEqual({ new_x: "fresh" });
      await o.complete();
      expect(values((await o.peek()).kv_snapshot)).toEqual({ new_x: "fresh" });
    },
  },
  {
    name: "an empty string is stored and read back as a value, not as null, in both layers (test_kv_empty_value)",
    async run(ctx) {
      const p = await ctx.createProvider();
      const o = await KvOrch.start(p, "kv-empty");
      await o.turn([set("blank", "")]);
      expect(await p.getKvValue("kv-empty", "blank")).toBe("");
      expect(await p.getKvAllValues("kv-empty")).toEqual({ blank: "" });
      await o.complete();
      expect(await p.getKvValue("kv-empty", "blank")).toBe("");
      expect(values((await o.peek()).kv_snapshot)).toEqual({ blank: "" });
    },
  },
  {
    name: "a 16 KiB value round-trips unchanged (test_kv_large_value)",
    async run(ctx) {
      const p = await ctx.createProvider();
      const o = await KvOrch.start(p, "kv-big");
      const big = "x".repeat(16 * 1024 - 1) + "!";
      await o.turn([set("payload", big)]);
      expect(await p.getKvValue("kv-big", "payload")).toBe(big);
      await o.complete();
      expect((await o.peek()).kv_snapshot.payload?.value).toBe(big);
    },
  },
  {
    name: "keys with spaces, CJK, dots, slashes and emoji round-trip (test_kv_special_chars_in_key)",
    async run(ctx) {
      const p = await ctx.createProvider();
      const o = await KvOrch.start(p, "kv-chars");
      const entries: Record<string, string> = {
        "key with spaces": "v1",
        "日本語キー": "v2",
        "dotted.key.name": "v3",
        "path/like/key": "v4",
        "emoji🎉key": "v5",
      };
      await o.turn(Object.entries(entries).map(([k, v]) => set(k, v)));
      for (const [k, v] of Object.entries(entries)) {
        expect(await p.getKvValue("kv-chars", k)).toBe(v);
      }
      expect(await p.getKvAllValues("kv-chars")).toEqual(entries);
    },
  },
  {
    name: "an instance that never wrote KV gets an empty kv_snapshot (test_kv_snapshot_empty)",
    async run(ctx) {
      const p = await ctx.createProvider();
      const o = await KvOrch.start(p, "kv-sempty");
      const item = await o.peek();
      expect(item.kv_snapshot).toEqual({});
    },
  },
  {
    name: "in execution 2 the snapshot holds execution 1's key but not execution 2's own key (test_kv_snapshot_cross_execution)",
    async run(ctx) {
      const p = await ctx.createProvider();
      const o = await KvOrch.start(p, "kv-scross", { kv: [set("A", "from_exec1")] });
      await o.continueAsNew();
      await o.turn([set("B", "from_exec2")]);
      const item = await o.peek();
      expect(item.execution_id).toBe(2);
      expect(values(item.kv_snapshot)).toEqual({ A: "from_exec1" });
      expect(Object.keys(item.kv_snapshot)).toHaveLength(1);
    },
  },
  {
    name: "pruning a single-execution instance keeps its execution and its KV (test_kv_prune_current_execution_protected)",
    requires: ["management"],
    async run(ctx) {
      const p = await ctx.createProvider();
      const admin = requireAdmin(p);
      const o = await KvOrch.start(p, "kv-prncur");
      await o.turn([set("alive", "yes")]);
      const pruned = await admin.pruneExecutions("kv-prncur", { keep_last: 1 });
      expect(pruned.executions_deleted).toBe(0);
      expect(await admin.listExecutions("kv-prncur")).toEqual([1]);
      expect(await p.getKvValue("kv-prncur", "alive")).toBe("yes");
    },
  },
  {
    name: "deleting a parent instance also removes its sub-orchestration's KV (test_kv_delete_instance_with_children)",
    requires: ["management"],
    async run(ctx) {
      const p = await ctx.createProvider();
      const admin = requireAdmin(p);
      const parent = await KvOrch.start(p, "kv-parent", { kv: [set("parent_key", "parent_val")] });
      const child = await KvOrch.start(p, "kv-child", { parent: "kv-parent" });
      await child.turn([set("child_key", "child_val")]);
      await child.complete();
      await parent.complete();
      expect(await admin.listChildren("kv-parent")).toEqual(["kv-child"]);
      expect(await p.getKvValue("kv-child", "child_key")).toBe("child_val");

      const result = await admin.deleteInstance("kv-parent", false);
      expect(result.instances_deleted).toBe(2);
      expect(await p.getKvValue("kv-parent", "parent_key")).toBeNull();
      expect(await p.getKvValue("kv-child", "child_key")).toBeNull();
      expect(await p.getKvAllValues("kv-child")).toEqual({});
    },
  },
  {
    name: "clear-all on one instance leaves another instance's values alone (test_kv_clear_isolation)",
    async run(ctx) {
      const p = await ctx.createProvider();
      const a = await KvOrch.start(p, "kv-ciso-a");
      const b = await KvOrch.start(p, "kv-ciso-b");
      await a.turn([set("shared", "from_a")]);
      await b.turn([set("shared", "from_b")]);
      await a.turn([clearAll()]);
      expect(await p.getKvValue("kv-ciso-a", "shared")).toBeNull();
      expect(await p.getKvValue("kv-ciso-b", "shared")).toBe("from_b");
      expect(await p.getKvAllValues("kv-ciso-b")).toEqual({ shared: "from_b" });
    },
  },
  {
    name: "a value set in the running execution is readable by clients but absent from kv_snapshot (test_kv_delta_snapshot_excludes_current_execution)",
    async run(ctx) {
      const p = await ctx.createProvider();
      const o = await KvOrch.start(p, "kv-ds1");
      await o.turn([set("counter", "1", 100)]);
      expect(await p.getKvValue("kv-ds1", "counter")).toBe("1");
      expect(await p.getKvAllValues("kv-ds1")).toEqual({ counter: "1" });
      // The runtime rebuilds current-execution values by replay; the snapshot must not pre-seed them.
      expect((await o.peek()).kv_snapshot).toEqual({});
      await o.turn([set("counter", "2", 200)]);
      expect((await o.peek()).kv_snapshot).toEqual({});
    },
  },
  {
    name: "after ContinueAsNew the new execution's snapshot contains the previous execution's value (test_kv_delta_snapshot_includes_completed_execution)",
    async run(ctx) {
      const p = await ctx.createProvider();
      const o = await KvOrch.start(p, "kv-ds2", { kv: [set("counter", "5", 1234)] });
      const e2Start = await o.continueAsNew();
      expect(e2Start.kv_snapshot).toEqual({ counter: { value: "5", last_updated_at_ms: 1234 } });
      const item = await o.peek();
      expect(item.execution_id).toBe(2);
      expect(item.kv_snapshot.counter?.value).toBe("5");
    },
  },
  {
    name: "client reads merge committed (e1) and running-execution (e2) values, e2 winning; the snapshot stays committed-only (test_kv_delta_client_reads_merged)",
    async run(ctx) {
      const p = await ctx.createProvider();
      const o = await KvOrch.start(p, "kv-dm", { kv: [set("color", "red"), set("size", "large")] });
      await o.continueAsNew();
      await o.turn([set("color", "blue"), set("shape", "circle")]);
      expect(await p.getKvValue("kv-dm", "color")).toBe("blue");
      expect(await p.getKvValue("kv-dm", "size")).toBe("large");
      expect(await p.getKvValue("kv-dm", "shape")).toBe("circle");
      expect(await p.getKvAllValues("kv-dm")).toEqual({ color: "blue", size: "large", shape: "circle" });
      expect(values((await o.peek()).kv_snapshot)).toEqual({ color: "red", size: "large" });
    },
  },
  {
    name: "clearing in e2 hides the committed e1 value from clients at once and from the snapshot once e2 ends (test_kv_delta_tombstone_overrides_store)",
    async run(ctx) {
      const p = await ctx.createProvider();
      const o = await KvOrch.start(p, "kv-dt", { kv: [set("temp", "exists")] });
      await o.continueAsNew();
      await o.turn([clear("temp")]);
      expect(await p.getKvValue("kv-dt", "temp")).toBeNull();
      expect(await p.getKvAllValues("kv-dt")).toEqual({});
      expect(values((await o.peek()).kv_snapshot)).toEqual({ temp: "exists" });
      await o.complete();
      expect(await p.getKvValue("kv-dt", "temp")).toBeNull();
      expect((await o.peek()).kv_snapshot).toEqual({});
    },
  },
  {
    name: "clear-all in e2 hides every committed key, and a set later in the same ack is visible (test_kv_delta_clear_all_tombstones_store)",
    async run(ctx) {
      const p = await ctx.createProvider();
      const o = await KvOrch.start(p, "kv-dca", { kv: [set("a", "1"), set("b", "2")] });
      await o.continueAsNew();
      await o.turn([clearAll(), set("c", "3")]);
      expect(await p.getKvValue("kv-dca", "a")).toBeNull();
      expect(await p.getKvValue("kv-dca", "b")).toBeNull();
      expect(await p.getKvValue("kv-dca", "c")).toBe("3");
      expect(await p.getKvAllValues("kv-dca")).toEqual({ c: "3" });
    },
  },
  {
    name: "a value stays readable after the completing ack merges it, and is then in the snapshot (test_kv_delta_merged_on_completion)",
    async run(ctx) {
      const p = await ctx.createProvider();
      const o = await KvOrch.start(p, "kv-dmc");
      await o.turn([set("result", "42", 100)]);
      expect((await o.peek()).kv_snapshot).toEqual({});
      await o.complete();
      expect(await p.getKvValue("kv-dmc", "result")).toBe("42");
      expect(await p.getKvAllValues("kv-dmc")).toEqual({ result: "42" });
      expect((await o.peek()).kv_snapshot).toEqual({ result: { value: "42", last_updated_at_ms: 100 } });
    },
  },
  {
    name: "after ContinueAsNew the snapshot holds the latest values, including one overwritten in a later e1 turn (test_kv_delta_merged_on_can)",
    async run(ctx) {
      const p = await ctx.createProvider();
      const o = await KvOrch.start(p, "kv-dmc2");
      await o.turn([set("version", "1", 100), set("progress", "50%", 101)]);
      await o.turn([set("progress", "100%", 102)]);
      const e2Start = await o.continueAsNew();
      expect(e2Start.kv_snapshot).toEqual({
        version: { value: "1", last_updated_at_ms: 100 },
        progress: { value: "100%", last_updated_at_ms: 102 },
      });
      expect(values((await o.peek()).kv_snapshot)).toEqual({ version: "1", progress: "100%" });
    },
  },
  {
    name: "force-deleting a running instance removes its running-execution KV too (test_kv_delta_delete_instance_cascades)",
    requires: ["management"],
    async run(ctx) {
      const p = await ctx.createProvider();
      const admin = requireAdmin(p);
      const o = await KvOrch.start(p, "kv-ddel");
      await o.turn([set("data", "important")]);
      expect(await p.getKvValue("kv-ddel", "data")).toBe("important");

      const result = await admin.deleteInstance("kv-ddel", true);
      expect(result.instances_deleted).toBe(1);
      expect(await p.getKvValue("kv-ddel", "data")).toBeNull();
      expect(await p.getKvAllValues("kv-ddel")).toEqual({});

      // A reused id must not inherit the deleted instance's overlay (it would merge on completion).
      const again = await KvOrch.start(p, "kv-ddel");
      expect(await p.getKvValue("kv-ddel", "data")).toBeNull();
      await again.complete();
      expect((await again.peek()).kv_snapshot).toEqual({});
    },
  },
  {
    name: "keys last written in pruned executions 1 and 2 stay readable and appear in execution 3's snapshot (test_kv_delta_prune_untouched_key_survives)",
    requires: ["management"],
    async run(ctx) {
      const p = await ctx.createProvider();
      const admin = requireAdmin(p);
      const o = await KvOrch.start(p, "kv-dprn", { kv: [set("stale_config", "from_exec_1")] });
      await o.continueAsNew();
      await o.turn([set("other", "unrelated")]);
      await o.continueAsNew();
      expect(await p.getKvAllValues("kv-dprn")).toEqual({ stale_config: "from_exec_1", other: "unrelated" });

      const pruned = await admin.pruneExecutions("kv-dprn", { keep_last: 1 });
      expect(pruned.executions_deleted).toBe(2);
      expect(await admin.listExecutions("kv-dprn")).toEqual([3]);
      expect(await p.getKvValue("kv-dprn", "stale_config")).toBe("from_exec_1");
      expect(await p.getKvValue("kv-dprn", "other")).toBe("unrelated");

      const item = await o.peek();
      expect(item.execution_id).toBe(3);
      expect(values(item.kv_snapshot)).toEqual({ stale_config: "from_exec_1", other: "unrelated" });
    },
  },
];

export const kvStore: ProviderModule = { name: "kv_store", cases };
