/**
 * Commands that send an instance a message (docs/cli.md): `raise ID NAME [DATA]`, `enqueue ID
 * QUEUE [DATA]`, `cancel ID [REASON]`. Each checks first that the instance exists and has not
 * finished: the provider would drop such a message without a word, so the CLI says so instead.
 */
import type { Client } from "../client.ts";
import { CliFailure, EXIT_OK, type CliCommand, type CommandContext } from "./command.ts";
import { requireInstance } from "./commands-inspect.ts";
import { payload, safe, toJson } from "./output.ts";

/** DATA as the user typed it: JSON when it parses as JSON (`42`, `{"ok":true}`, `"text"`), else the plain string. */
export function parseData(raw: string | undefined): unknown {
  if (raw === undefined) return null;
  try {
    return JSON.parse(raw);
  } catch {
    return raw;
  }
}

/** The instance must exist and still run, or the message would be dropped. */
async function requireRunning(client: Client, id: string, what: string): Promise<void> {
  const info = await requireInstance(client, id);
  if (info.status === "Completed" || info.status === "Failed") {
    throw new CliFailure(`instance ${safe(id)} is ${info.status}: ${what} would be dropped (only running instances take messages)`);
  }
}

function done(ctx: CommandContext, text: string, result: Record<string, unknown>): number {
  ctx.io.out(ctx.json ? toJson(result) : text);
  return EXIT_OK;
}

export const raiseCommand: CliCommand = {
  name: "raise",
  summary: "raise an external event on an instance (ctx.scheduleWait)",
  usage: `duroxide raise ID NAME [DATA]

Raises the positional event NAME on a running instance (what ctx.scheduleWait(NAME) receives).
DATA is parsed as JSON when it is JSON (42, true, '{"ok":true}', '"text"'), else taken as a
string; default null. An event nobody waits for when it arrives is dropped (docs/runtime-semantics.md §3.4).`,
  flags: {},
  args: { min: 2, max: 3 },
  needsStore: true,
  async run(ctx) {
    const [id, name, raw] = ctx.args as [string, string, string | undefined];
    const data = parseData(raw);
    const client = await ctx.client();
    await requireRunning(client, id, "an event");
    await client.raiseEvent(id, name, data);
    return done(ctx, `raised "${safe(name)}" on ${safe(id)} with ${payload(JSON.stringify(data))}`, { instanceId: id, event: name, data });
  },
};

export const enqueueCommand: CliCommand = {
  name: "enqueue",
  summary: "append a message to an instance's mailbox (ctx.dequeueEvent)",
  usage: `duroxide enqueue ID QUEUE [DATA]

Appends a message to the mailbox QUEUE of a running instance (what ctx.dequeueEvent(QUEUE)
takes, in order; kept until dequeued). DATA as for raise: JSON when it is JSON, else a string.`,
  flags: {},
  args: { min: 2, max: 3 },
  needsStore: true,
  async run(ctx) {
    const [id, queue, raw] = ctx.args as [string, string, string | undefined];
    const data = parseData(raw);
    const client = await ctx.client();
    await requireRunning(client, id, "a message");
    await client.enqueueEvent(id, queue, data);
    return done(ctx, `enqueued on "${safe(queue)}" of ${safe(id)}: ${payload(JSON.stringify(data))}`, { instanceId: id, queue, data });
  },
};

export const cancelCommand: CliCommand = {
  name: "cancel",
  summary: "cancel a running instance (and its children)",
  usage: `duroxide cancel ID [REASON]

Requests cancellation of a running instance; its sub-orchestrations are cancelled with it. The
instance fails with a Cancelled error at its next turn (a runtime must be running to apply it).`,
  flags: {},
  args: { min: 1, max: 2 },
  needsStore: true,
  async run(ctx) {
    const [id, reason = "cancelled with duroxide cancel"] = ctx.args as [string, string | undefined];
    const client = await ctx.client();
    await requireRunning(client, id, "a cancellation");
    await client.cancelInstance(id, reason);
    return done(ctx, `cancellation of ${safe(id)} requested (${payload(reason)})`, { instanceId: id, reason });
  },
};
