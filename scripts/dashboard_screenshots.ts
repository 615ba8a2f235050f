// Photographs the dashboard's two main pages for the README: docs/dashboard-list.png and
// docs/dashboard-instance.png, from the demo store (src/dashboard/demo-store.ts) in the system
// Chromium.
//   bun run scripts/dashboard_screenshots.ts [--out-dir docs]
import { chromium } from "playwright-core";
import { join } from "node:path";
import { findChromium } from "../src/dashboard/browser-path.ts";
import { DEMO_IDS, seedDemoStore } from "../src/dashboard/demo-store.ts";
import { startDashboard } from "../src/dashboard/server.ts";
import { SqliteProvider } from "../src/providers/sqlite.ts";
import { parseFlags, UsageError } from "../src/tools/cli-flags.ts";

async function main(argv: string[]): Promise<void> {
  const flags = parseFlags(argv, { "out-dir": { type: "string" }, help: { type: "boolean" } });
  if (flags.help === true) {
    console.log("usage: bun run scripts/dashboard_screenshots.ts [--out-dir docs]");
    return;
  }
  const outDir = (flags["out-dir"] as string | undefined) ?? join(import.meta.dir, "..", "docs");
  const browserPath = findChromium();
  if (browserPath.path === null) throw new UsageError(browserPath.missing);

  const provider = await SqliteProvider.inMemory();
  const demo = await seedDemoStore(provider);
  const dashboard = await startDashboard({ provider, port: 0 });
  const browser = await chromium.launch({ executablePath: browserPath.path });
  try {
    const page = await browser.newPage({ viewport: { width: 1200, height: 760 } });
    await page.goto(dashboard.url);
    await page.locator("#instances tbody tr[data-instance]").first().waitFor();
    await page.screenshot({ path: join(outDir, "dashboard-list.png"), fullPage: true });
    await page.goto(new URL(`/instance?id=${encodeURIComponent(DEMO_IDS.completed)}`, dashboard.url).toString());
    await page.locator("#timeline .bar").first().waitFor();
    await page.screenshot({ path: join(outDir, "dashboard-instance.png"), fullPage: true });
    console.log(`wrote ${join(outDir, "dashboard-list.png")} and ${join(outDir, "dashboard-instance.png")}`);
  } finally {
    await browser.close();
    await dashboard.stop();
    await demo.stop();
    provider.close();
  }
}

try {
  await main(Bun.argv.slice(2));
} catch (err) {
  console.error(`dashboard_screenshots: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = err instanceof UsageError ? 2 : 1;
}
