/**
 * Store administration (docs/cli.md): `delete ID [--force]`, `prune`, `queues`, `metrics`. They
 * need the provider's management capability (SQLite, PostgreSQL and memory have it).
 */
import { numberFlag, UsageError } from "../tools/cli-flags.ts";
import { ClientError } from "../core/errors.ts";
import { CliFailure, EXIT_OK, type CliCommand } from "./command.ts";
import { requireInstance } from "./commands-inspect.ts";
import { fields, safe, table, toJson } from "./output.ts";

export const deleteCommand: CliCommand = {
  name: "delete",
  summary: "delete a root instance and its whole tree",
  usage: `duroxide delete ID [--force]

Deletes a root instance with its sub-orchestrations, executions, history, KV and queued messages,
in one transaction. A running tree is refused unless --force (work still in flight for it then
fails to commit). A sub-orchestration is refused: delete its root.`,
  flags: { force: { type: "boolean" } },
  args: { min: 1, max: 1 },
  needsStore: true,
  async run(ctx) {
    const id = ctx.args[0]!;
    const client = await ctx.client();
    await requireInstance(client, id);
    let r;
    try {
      r = await client.deleteInstance(id, { force: ctx.values.force === true });
    } catch (err) {
      if (err instanceof ClientError && err.code === "InstanceStillRunning") {
        throw new CliFailure(`instance ${safe(id)} (or one of its children) is still running: cancel it first, or pass --force to delete it anyway`);
      }
      if (err instanceof ClientError && err.code === "CannotDeleteSubOrchestration") {
        const info = await client.getInstanceInfo(id);
        throw new CliFailure(`instance ${safe(id)} is a sub-orchestration of ${safe(info.parent_instance_id ?? "?")}: delete the root instance instead`);
      }
      throw err;
    }
    if (ctx.json) ctx.io.out(toJson(r));
    else ctx.io.out(`deleted ${safe(id)}: ${r.instances_deleted} instances, ${r.executions_deleted} executions, ${r.events_deleted} events, ${r.queue_messages_deleted} queued messages`);
    return EXIT_OK;
  },
};

const UNIT_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** "30s", "15m", "12h", "7d", "500ms" as milliseconds. */
export function parseDuration(flag: string, raw: string): number {
  const m = /^\s*(\d+)\s*(ms|s|m|h|d)\s*$/.exec(raw);
  const ms = m === null ? NaN : Number(m[1]) * UNIT_MS[m[2]!]!;
  if (!Number.isSafeInteger(ms)) throw new UsageError(`${flag} must be a duration like 30s, 15m, 12h or 7d, got ${JSON.stringify(raw)}`);
  return ms;
}

export const pruneCommand: CliCommand = {
  name: "prune",
  summary: "delete old executions, or finished instances (--instances)",
  usage: `duroxide prune [ID] [--keep-last N] [--older-than DURATION]
duroxide prune --instances --older-than DURATION [--limit N]

Without --instances: deletes old executions of instance ID (of every instance without ID),
keeping the last N (--keep-last) and/or those completed within DURATION (--older-than 7d); the
current and running executions are never pruned. At least one of the two is required.
With --instances: deletes finished root instances (and their trees) completed more than DURATION
ago, at most --limit (default 1000) per run; running instances are never touched.`,
  flags: { "keep-last": { type: "string" }, "older-than": { type: "string" }, instances: { type: "boolean" }, limit: { type: "string" } },
  args: { min: 0, max: 1 },
  needsStore: true,
  async run(ctx) {
    const id = ctx.args[0];
    const olderThan = typeof ctx.values["older-than"] === "string" ? parseDuration("--older-than", ctx.values["older-than"]) : undefined;
    const completedBefore = olderThan === undefined ? undefined : Date.now() - olderThan;
    if (ctx.values.instances === true) {
      if (id !== undefined) throw new UsageError("prune --instances works on every finished instance; to delete one instance use: duroxide delete ID");
      if (ctx.values["keep-last"] !== undefined) throw new UsageError("--keep-last prunes executions; it does not go with --instances");
      if (completedBefore === undefined) throw new UsageError("prune --instances needs --older-than DURATION (e.g. 7d), so it never deletes everything by accident");
      const limit = numberFlag("--limit", ctx.values.limit, { min: 1, max: 100_000, integer: true, default: 1000 });
      const client = await ctx.client();
      const r = await client.deleteInstanceBulk({ completed_before: completedBefore, limit });
      if (ctx.json) ctx.io.out(toJson(r));
      else ctx.io.out(`deleted ${r.instances_deleted} instances (${r.executions_deleted} executions, ${r.events_deleted} events, ${r.queue_messages_deleted} queued messages)`);
      return EXIT_OK;
    }
    if (ctx.values.limit !== undefined) throw new UsageError("--limit goes with --instances");
    const keepLast = ctx.values["keep-last"] === undefined ? undefined : numberFlag("--keep-last", ctx.values["keep-last"], { min: 0, max: 1_000_000, integer: true, default: 0 });
    if (keepLast === undefined && completedBefore === undefined) {
      throw new UsageError("prune needs --keep-last N and/or --older-than DURATION (what to keep); see duroxide prune --help");
    }
    const options = { ...(keepLast === undefined ? {} : { keep_last: keepLast }), ...(completedBefore === undefined ? {} : { completed_before: completedBefore }) };
    const client = await ctx.client();
    if (id !== undefined) await requireInstance(client, id);
    const r = id === undefined ? await client.pruneExecutionsBulk({}, options) : await client.pruneExecutions(id, options);
    if (ctx.json) ctx.io.out(toJson(r));
    else ctx.io.out(`pruned ${r.executions_deleted} executions (${r.events_deleted} events) of ${r.instances_processed} instances`);
    return EXIT_OK;
  },
};

export const queuesCommand: CliCommand = {
  name: "queues",
  summary: "queue depths (messages waiting to be fetched)",
  usage: `duroxide queues [--json]

Prints how many unlocked messages wait in the orchestrator queue (starts, completions, events,
timers) and in the worker queue (activities).`,
  flags: {},
  args: { min: 0, max: 0 },
  needsStore: true,
  async run(ctx) {
    const client = await ctx.client();
    const d = await client.getQueueDepths();
    if (ctx.json) ctx.io.out(toJson(d));
    else ctx.io.out(table(ctx.c, ["QUEUE", "DEPTH"], [["orchestrator", String(d.orchestrator_queue)], ["worker", String(d.worker_queue)]]));
    return EXIT_OK;
  },
};

export const metricsCommand: CliCommand = {
  name: "metrics",
  summary: "the store's system metrics and queue depths",
  usage: `duroxide metrics [--json]

Prints the store's counts: instances (running, completed, failed), executions, history events,
and the queue depths. (Runtime metrics are in-process: see runtime.metrics().)`,
  flags: {},
  args: { min: 0, max: 0 },
  needsStore: true,
  async run(ctx) {
    const client = await ctx.client();
    const m = await client.getSystemMetrics();
    const d = await client.getQueueDepths();
    if (ctx.json) {
      ctx.io.out(toJson({ system: m, queues: d }));
      return EXIT_OK;
    }
    ctx.io.out(
      fields(ctx.c, [
        ["instances", String(m.total_instances)],
        ["  running", String(m.running_instances)],
        ["  completed", String(m.completed_instances)],
        ["  failed", String(m.failed_instances)],
        ["executions", String(m.total_executions)],
        ["history events", String(m.total_events)],
        ["orchestrator queue", String(d.orchestrator_queue)],
        ["worker queue", String(d.worker_queue)],
      ]),
    );
    return EXIT_OK;
  },
};
