/**
 * Where `--report` writes and what `--compare` reads (docs/stress-tests.md §10.3), checked before
 * a run starts: a report path that cannot be written is refused at once, not after minutes of
 * work, and so is a comparison file that is not `--json` output.
 */
import { accessSync, constants, existsSync, readFileSync, statSync } from "node:fs";
import { dirname, extname, resolve } from "node:path";
import { parseRunsJson, ReportInputError, type ReportRun } from "./report-run.ts";

/** The absolute path of a writable `.html` file at `path`, or a ReportInputError saying what is wrong with it. */
export function checkReportPath(path: string): string {
  if (typeof path !== "string" || path.trim() === "") throw new ReportInputError("--report needs a file path, e.g. --report stress-report.html");
  const abs = resolve(path.trim());
  const ext = extname(abs).toLowerCase();
  if (ext !== ".html" && ext !== ".htm") throw new ReportInputError(`--report ${JSON.stringify(path)}: the report is an HTML file; give a path ending in .html`);
  if (existsSync(abs) && statSync(abs).isDirectory()) throw new ReportInputError(`--report ${JSON.stringify(path)} is a directory; give a file path ending in .html`);
  const dir = dirname(abs);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new ReportInputError(`--report ${JSON.stringify(path)}: directory ${dir} does not exist`);
  try {
    accessSync(existsSync(abs) ? abs : dir, constants.W_OK);
  } catch {
    throw new ReportInputError(`--report ${JSON.stringify(path)}: ${existsSync(abs) ? "the file" : `directory ${dir}`} is not writable`);
  }
  return abs;
}

/** The runs of each `--json` output file in `paths`, in order; a missing or malformed file is a ReportInputError naming it. */
export function readCompareFiles(paths: readonly string[]): ReportRun[] {
  const runs: ReportRun[] = [];
  for (const p of paths) {
    const abs = resolve(p);
    if (!existsSync(abs) || !statSync(abs).isFile()) throw new ReportInputError(`--compare ${JSON.stringify(p)}: no such file (expected the saved output of parallel_orchestrations.ts --json)`);
    runs.push(...parseRunsJson(readFileSync(abs, "utf8"), p));
  }
  return runs;
}
