/**
 * Read commands (docs/cli.md): `list`, `show ID`, `history ID`. Every one prints text for people
 * (coloured on a terminal, aligned, payloads shortened) or, with `--json`, the data for scripts.
 */
import { numberFlag, UsageError } from "../tools/cli-flags.ts";
import type { Client } from "../client.ts";
import type { ExecutionInfo, InstanceInfo } from "../core/admin-types.ts";
import { ClientError } from "../core/errors.ts";
import { EXECUTION_STATUSES, type ExecutionStatus } from "../core/status.ts";
import { CliFailure, EXIT_OK, type CliCommand, type CommandContext } from "./command.ts";
import { fields, payload, safe, statusColor, table, timestamp, toJson } from "./output.ts";
import { renderTimeline } from "./timeline.ts";

/** Most nodes `show` walks in an instance's tree of children (a runaway fan-out stays readable). */
const MAX_TREE_NODES = 200;

/** The instance's row, or a CliFailure saying it does not exist. */
export async function requireInstance(client: Client, id: string): Promise<InstanceInfo> {
  try {
    return await client.getInstanceInfo(id);
  } catch (err) {
    if (err instanceof ClientError && err.code === "InstanceNotFound") {
      throw new CliFailure(`instance ${safe(id)} not found (list instances with: duroxide list)`);
    }
    throw err;
  }
}

/** A status flag value, case-insensitive ("running" is Running). */
function parseStatus(raw: string): ExecutionStatus {
  const found = EXECUTION_STATUSES.find((s) => s.toLowerCase() === raw.trim().toLowerCase());
  if (found === undefined) throw new UsageError(`--status must be one of ${EXECUTION_STATUSES.join(", ")}, got ${JSON.stringify(raw)}`);
  return found;
}

export const listCommand: CliCommand = {
  name: "list",
  summary: "list instances, newest first",
  usage: `duroxide list [--status S] [--limit N] [--json]

Lists instances, newest first, with their orchestration, version, status, current execution and
last update. --status keeps one status (Running, Completed, Failed, ContinuedAsNew); --limit
caps the rows (default 50).`,
  flags: { status: { type: "string" }, limit: { type: "string" } },
  args: { min: 0, max: 0 },
  needsStore: true,
  async run(ctx) {
    const status = typeof ctx.values.status === "string" ? parseStatus(ctx.values.status) : null;
    const limit = numberFlag("--limit", ctx.values.limit, { min: 1, max: 100_000, integer: true, default: 50 });
    const client = await ctx.client();
    const ids = status === null ? await client.listAllInstances() : await client.listInstancesByStatus(status);
    const infos: InstanceInfo[] = [];
    for (const id of ids.slice(0, limit)) {
      try {
        infos.push(await client.getInstanceInfo(id));
      } catch (err) {
        // Deleted between the listing and this read: not an error for a listing.
        if (!(err instanceof ClientError && err.code === "InstanceNotFound")) throw err;
      }
    }
    if (ctx.json) {
      ctx.io.out(toJson(infos));
      return EXIT_OK;
    }
    const c = ctx.c;
    if (infos.length === 0) {
      ctx.io.out(c.dim(status === null ? "no instances" : `no ${status} instances`));
      return EXIT_OK;
    }
    const rows = infos.map((i) => [
      safe(i.instance_id),
      safe(i.orchestration_name),
      safe(i.orchestration_version),
      statusColor(c, i.status),
      String(i.current_execution_id),
      timestamp(i.updated_at),
      i.parent_instance_id === null ? "" : safe(i.parent_instance_id),
    ]);
    ctx.io.out(table(c, ["INSTANCE", "ORCHESTRATION", "VERSION", "STATUS", "EXEC", "UPDATED", "PARENT"], rows));
    if (ids.length > infos.length && ids.length > limit) ctx.io.out(c.dim(`(${ids.length - limit} more; raise --limit to see them)`));
    return EXIT_OK;
  },
};

interface TreeNode {
  instanceId: string;
  orchestration: string;
  status: string;
  children: TreeNode[];
}

/** The instance's children as a tree (getInstanceTree is flat; each row names its parent). */
async function childrenTree(client: Client, root: InstanceInfo): Promise<{ tree: TreeNode; truncated: boolean }> {
  const flat = await client.getInstanceTree(root.instance_id);
  const ids = flat.all_ids.filter((id) => id !== root.instance_id);
  const truncated = ids.length > MAX_TREE_NODES;
  const nodes = new Map<string, TreeNode>();
  const top: TreeNode = { instanceId: root.instance_id, orchestration: root.orchestration_name, status: root.status, children: [] };
  nodes.set(root.instance_id, top);
  const infos: InstanceInfo[] = [];
  for (const id of ids.slice(0, MAX_TREE_NODES)) {
    try {
      const info = await client.getInstanceInfo(id);
      infos.push(info);
      nodes.set(id, { instanceId: id, orchestration: info.orchestration_name, status: info.status, children: [] });
    } catch (err) {
      if (!(err instanceof ClientError && err.code === "InstanceNotFound")) throw err;
    }
  }
  for (const info of infos) {
    const parent = nodes.get(info.parent_instance_id ?? root.instance_id) ?? top;
    parent.children.push(nodes.get(info.instance_id)!);
  }
  return { tree: top, truncated };
}

function renderTree(ctx: CommandContext, node: TreeNode, prefix: string, out: string[]): void {
  node.children.forEach((child, i) => {
    const last = i === node.children.length - 1;
    out.push(`${prefix}${last ? "└─ " : "├─ "}${safe(child.instanceId)}  ${safe(child.orchestration)}  ${statusColor(ctx.c, child.status)}`);
    renderTree(ctx, child, prefix + (last ? "   " : "│  "), out);
  });
}

export const showCommand: CliCommand = {
  name: "show",
  summary: "one instance: status, output or error, custom status, KV, children, executions",
  usage: `duroxide show ID [--json]

Shows an instance: orchestration and version, status, output or error, custom status, its size
(history events and bytes, KV keys, mailbox messages not yet dequeued), its KV values, the tree
of its sub-orchestrations and its executions. Exit status 1 when the instance does not exist.`,
  flags: {},
  args: { min: 1, max: 1 },
  needsStore: true,
  async run(ctx) {
    const id = ctx.args[0]!;
    const client = await ctx.client();
    const info = await requireInstance(client, id);
    const status = await client.getOrchestrationStatus(id);
    const stats = await client.getOrchestrationStats(id);
    const kv = await client.getKvAllValues(id);
    const { tree, truncated } = await childrenTree(client, info);
    const executions: ExecutionInfo[] = [];
    for (const e of await client.listExecutions(id)) executions.push(await client.getExecutionInfo(id, e));
    if (ctx.json) {
      ctx.io.out(toJson({ info, status, stats, kv, children: tree.children, childrenTruncated: truncated, executions }));
      return EXIT_OK;
    }
    const c = ctx.c;
    const pairs: [string, string][] = [
      ["instance", safe(info.instance_id)],
      ["orchestration", `${safe(info.orchestration_name)} ${safe(info.orchestration_version)}`],
      ["status", statusColor(c, status.status)],
    ];
    if (status.status === "Completed") pairs.push(["output", payload(JSON.stringify(status.output), 200)]);
    if (status.status === "Failed") pairs.push(["error", c.red(payload(status.message, 200))]);
    if (status.status === "Running" && status.message !== undefined) pairs.push(["waiting", c.yellow(payload(status.message, 200))]);
    if (status.status !== "NotFound" && status.customStatus !== null) pairs.push(["custom status", `${payload(status.customStatus, 200)} ${c.dim(`(v${status.customStatusVersion})`)}`]);
    if (info.parent_instance_id !== null) pairs.push(["parent", safe(info.parent_instance_id)]);
    pairs.push(["created", timestamp(info.created_at)], ["updated", timestamp(info.updated_at)]);
    if (stats !== null) {
      pairs.push(
        ["history", `${stats.historyEventCount} events, ${stats.historySizeBytes} bytes (execution ${stats.currentExecutionId})`],
        ["kv", `${stats.kvUserKeyCount} keys, ${stats.kvTotalValueBytes} bytes`],
        ["mailbox", `${stats.queuePendingCount} messages not yet dequeued`],
      );
    }
    const out = [fields(c, pairs)];
    const keys = Object.keys(kv);
    if (keys.length > 0) {
      out.push("", c.bold("KV"), table(c, ["KEY", "VALUE"], keys.map((k) => [safe(k), payload(JSON.stringify(kv[k]), 80)])));
    }
    if (tree.children.length > 0) {
      const lines: string[] = [`${safe(info.instance_id)}  ${safe(info.orchestration_name)}  ${statusColor(c, info.status)}`];
      renderTree(ctx, tree, "", lines);
      if (truncated) lines.push(c.dim(`(only the first ${MAX_TREE_NODES} descendants shown)`));
      out.push("", c.bold("Children"), ...lines);
    }
    out.push(
      "",
      c.bold("Executions"),
      table(
        c,
        ["EXEC", "STATUS", "STARTED", "COMPLETED", "EVENTS", "OUTPUT"],
        executions.map((e) => [String(e.execution_id), statusColor(c, e.status), timestamp(e.started_at), timestamp(e.completed_at), String(e.event_count), payload(e.output, 40)]),
      ),
    );
    ctx.io.out(out.join("\n"));
    return EXIT_OK;
  },
};

export const historyCommand: CliCommand = {
  name: "history",
  summary: "one execution's events as a timeline (--json: the raw events)",
  usage: `duroxide history ID [--execution N] [--json]

Prints the events of the instance's latest execution (or execution N) as a timeline: event id,
time since the execution started, the event, what it names and its payload (shortened);
completions say which event they complete. --json prints the events as stored.`,
  flags: { execution: { type: "string" } },
  args: { min: 1, max: 1 },
  needsStore: true,
  async run(ctx) {
    const id = ctx.args[0]!;
    const execution = ctx.values.execution === undefined ? undefined : numberFlag("--execution", ctx.values.execution, { min: 1, max: Number.MAX_SAFE_INTEGER, integer: true, default: 1 });
    const client = await ctx.client();
    const info = await requireInstance(client, id);
    if (execution !== undefined && execution > info.current_execution_id) {
      throw new CliFailure(`instance ${safe(id)} has no execution ${execution} (its current execution is ${info.current_execution_id})`);
    }
    const events = await client.readExecutionHistory(id, execution);
    if (events.length === 0) {
      throw new CliFailure(`instance ${safe(id)} has no history for execution ${execution ?? info.current_execution_id} (pruned?)`);
    }
    if (ctx.json) {
      ctx.io.out(toJson(events));
      return EXIT_OK;
    }
    const c = ctx.c;
    const first = events[0]!;
    ctx.io.out(`${c.bold(safe(id))}  execution ${first.execution_id}  started ${timestamp(first.timestamp_ms)}  ${events.length} events`);
    ctx.io.out(renderTimeline(c, events));
    return EXIT_OK;
  },
};
