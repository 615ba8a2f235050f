/**
 * `duroxide replay --module FILE`: the pre-deploy replay check over a store (docs/cli.md,
 * docs/runtime-semantics.md §2.8). Every running instance's current execution is replayed against
 * the orchestrations the module exports, with replayHistory from duroxide/testing; a divergence
 * means a runtime with that code would fail the instance as nondeterministic, so the command exits
 * 1 and names, per instance, the event, what history has and what the code did.
 */
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { existsSync } from "node:fs";
import { UsageError } from "../tools/cli-flags.ts";
import { NondeterminismError } from "../core/errors.ts";
import type { OrchestrationHandler } from "../runtime/handler-types.ts";
import { OrchestrationRegistry } from "../runtime/registry.ts";
import { replayHistory } from "../testing/replay-history.ts";
import { CliFailure, EXIT_FAILED, EXIT_OK, type CliCommand } from "./command.ts";
import { safe, table, toJson } from "./output.ts";

export type ReplayVerdict =
  | { instanceId: string; executionId: number; orchestration: string; version: string; result: "fits" }
  | { instanceId: string; executionId: number; orchestration: string; version: string; result: "diverges"; eventId: number | null; historyHas: string; codeDid: string; message: string }
  | { instanceId: string; executionId: number | null; orchestration: string | null; version: string | null; result: "unreadable"; message: string };

type Registry = OrchestrationRegistry | Record<string, OrchestrationHandler>;

/** A registry built by another copy of duroxide fails `instanceof`: rebuild it from what it exposes. */
function adoptRegistry(v: unknown): Registry | null {
  if (v instanceof OrchestrationRegistry) return v;
  if (typeof v !== "object" || v === null || Array.isArray(v)) return null;
  const r = v as { names?: unknown; versions?: unknown; resolveExact?: unknown };
  if (typeof r.names === "function" && typeof r.versions === "function" && typeof r.resolveExact === "function") {
    const b = OrchestrationRegistry.builder();
    const reg = v as OrchestrationRegistry;
    for (const name of reg.names()) for (const version of reg.versions(name)) b.registerVersioned(name, version, reg.resolveExact(name, version)!);
    return b.build();
  }
  const entries = Object.entries(v);
  if (entries.length > 0 && entries.every(([, h]) => typeof h === "function")) return v as Record<string, OrchestrationHandler>;
  return null;
}

/** The module's `orchestrations` export (or its default export): a registry or `{ Name: handler }`. */
export async function loadOrchestrations(path: string): Promise<Registry> {
  const abs = resolve(process.cwd(), path);
  if (!existsSync(abs)) throw new CliFailure(`module ${safe(path)} does not exist (pass the file that exports your orchestrations)`);
  let mod: Record<string, unknown>;
  try {
    mod = (await import(pathToFileURL(abs).href)) as Record<string, unknown>;
  } catch (err) {
    throw new CliFailure(`cannot load module ${safe(path)}: ${safe(err instanceof Error ? err.message : String(err))}`);
  }
  const exported = mod.orchestrations ?? mod.default;
  const registry = adoptRegistry(exported);
  if (registry === null) {
    throw new CliFailure(
      `module ${safe(path)} must export its orchestrations as \`export const orchestrations = OrchestrationRegistry.builder()...build()\` ` +
        "(or an object { Name: function* (ctx, input) {...} }, or as the default export)",
    );
  }
  return registry;
}

export const replayCommand: CliCommand = {
  name: "replay",
  summary: "pre-deploy check: replay running instances against new orchestration code",
  usage: `duroxide replay --module FILE [--all] [--verbose] [--json]

Replays the current execution of every running instance in the store against the orchestrations
FILE exports (export const orchestrations = OrchestrationRegistry.builder()...build(), or a
default export; an object { Name: handler } works too). Exit status 1 when any instance's history
no longer fits the code (a runtime with that code would fail it as nondeterministic), or could
not be read or replayed at all (unreadable: it was not checked). Each
divergence names the event id, what history has there and what the code did instead.
--all checks finished instances too (their code must still end the same way); --verbose lists
the instances that fit as well. FILE is imported: it should define orchestrations, not start a runtime.`,
  flags: { module: { type: "string" }, all: { type: "boolean" }, verbose: { type: "boolean" } },
  args: { min: 0, max: 0 },
  needsStore: true,
  async run(ctx) {
    if (typeof ctx.values.module !== "string" || ctx.values.module.trim() === "") throw new UsageError("replay needs --module FILE (the file that exports your orchestrations)");
    const registry = await loadOrchestrations(ctx.values.module);
    const client = await ctx.client();
    const ids =
      ctx.values.all === true
        ? await client.listAllInstances()
        : [...(await client.listInstancesByStatus("Running")), ...(await client.listInstancesByStatus("ContinuedAsNew"))];
    const verdicts: ReplayVerdict[] = [];
    for (const id of ids) {
      let history;
      try {
        history = await client.readExecutionHistory(id);
      } catch (err) {
        verdicts.push({ instanceId: id, executionId: null, orchestration: null, version: null, result: "unreadable", message: err instanceof Error ? err.message : String(err) });
        continue;
      }
      const first = history[0];
      if (first === undefined || first.type !== "OrchestrationStarted") continue; // deleted or not started yet
      const base = { instanceId: id, executionId: first.execution_id, orchestration: first.name, version: first.version };
      try {
        replayHistory(registry, history);
        verdicts.push({ ...base, result: "fits" });
      } catch (err) {
        if (err instanceof NondeterminismError) {
          verdicts.push({ ...base, result: "diverges", eventId: err.eventId, historyHas: err.historyHas, codeDid: err.codeDid, message: err.message });
        } else {
          verdicts.push({ ...base, result: "unreadable", message: err instanceof Error ? err.message : String(err) });
        }
      }
    }
    const count = (r: ReplayVerdict["result"]) => verdicts.filter((v) => v.result === r).length;
    const summary = { checked: verdicts.length, fits: count("fits"), diverges: count("diverges"), unreadable: count("unreadable") };
    // 0 only when every instance fits (docs/cli.md "Exit status"): one that could not be read or
    // replayed was not checked, so a deploy gate must not pass on it.
    const exit = summary.diverges > 0 || summary.unreadable > 0 ? EXIT_FAILED : EXIT_OK;
    if (ctx.json) {
      ctx.io.out(toJson({ ...summary, results: verdicts }));
      return exit;
    }
    const c = ctx.c;
    const shown = ctx.values.verbose === true ? verdicts : verdicts.filter((v) => v.result !== "fits");
    if (shown.length > 0) {
      const rows = shown.map((v) => [
        safe(v.instanceId),
        v.orchestration === null ? "?" : `${safe(v.orchestration)} ${safe(v.version ?? "")}`,
        v.executionId === null ? "?" : String(v.executionId),
        v.result === "fits" ? c.green("fits") : v.result === "diverges" ? c.red(`diverges${v.eventId === null ? "" : ` at event ${v.eventId}`}`) : c.yellow("unreadable"),
      ]);
      ctx.io.out(table(c, ["INSTANCE", "ORCHESTRATION", "EXEC", "RESULT"], rows));
      for (const v of shown) {
        if (v.result === "diverges") ctx.io.out(`${c.red("✗")} ${safe(v.instanceId)}: history has ${safe(v.historyHas)}, but the code ${safe(v.codeDid)}`);
        if (v.result === "unreadable") ctx.io.out(`${c.yellow("!")} ${safe(v.instanceId)}: ${safe(v.message)}`);
      }
    }
    const scope = ctx.values.all === true ? "instances" : "running instances";
    const line = `${summary.checked} ${scope} checked: ${summary.fits} fit, ${summary.diverges} diverge${summary.unreadable > 0 ? `, ${summary.unreadable} unreadable` : ""}`;
    ctx.io.out(exit === EXIT_FAILED ? c.red(line) : c.green(line));
    if (summary.unreadable > 0) ctx.io.out(c.yellow("unreadable instances were not checked: fix what the message names (the store, a corrupt history) and run replay again"));
    return exit;
  },
};
