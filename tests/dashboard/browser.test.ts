// The dashboard in a real browser: Debian's Chromium driven by playwright-core (one launch for the
// whole file). A store with known instances (src/dashboard/demo-store.ts) is opened in the pages,
// what they show is checked, actions are performed through the UI and checked in the store, and
// ids and payloads made of HTML and script are shown as text. Without Chromium the file is skipped
// with the reason, except under CI, where a missing browser is a failure.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chromium, type Browser, type Page } from "playwright-core";
import { findChromium } from "../../src/dashboard/browser-path.ts";
import { DEMO_EVENT_NAME, DEMO_FAILURE_MESSAGE, DEMO_IDS, seedDemoStore, type DemoStore } from "../../src/dashboard/demo-store.ts";
import { startDashboard, type RunningDashboard } from "../../src/dashboard/server.ts";
import { SqliteProvider } from "../../src/providers/sqlite.ts";

const browserPath = findChromium();
const underCi = process.env.CI !== undefined && process.env.CI !== "" && process.env.CI !== "0" && process.env.CI !== "false";

if (browserPath.path === null) {
  if (underCi) {
    test("dashboard browser tests need Chromium under CI", () => {
      throw new Error(`${browserPath.missing} (.ci/run installs it)`);
    });
  } else {
    test.skip(`dashboard browser tests skipped: ${browserPath.missing}`, () => {});
  }
} else {
  const executablePath = browserPath.path;
  let provider: SqliteProvider;
  let demo: DemoStore;
  let dash: RunningDashboard;
  let browser: Browser;
  let page: Page;
  /** Script run by any page would set this; it must stay unset. */
  const dialogs: string[] = [];

  const open = async (path: string) => {
    await page.goto(new URL(path, dash.url).toString());
  };
  /** Elements the hostile values below would create if they were parsed as HTML. */
  const INJECTED = "main img, main svg, main script, main [onerror], main [onload], main b:text-is('bold')";
  const instancePath = (id: string) => `/instance?id=${encodeURIComponent(id)}`;
  const statusBadge = () => page.locator("#status .badge");

  /** Starts another instance waiting for DEMO_EVENT_NAME, and returns once its wait is recorded. */
  async function startWaiting(id: string, approver = "bob"): Promise<void> {
    await demo.client.startOrchestration(id, "AwaitApproval", { approver });
    await demo.client.waitForStatusChange(id, 0, { timeoutMs: 10_000 });
  }

  /** Answers the dashboard's confirmation dialog. */
  async function confirm(answer: "ok" | "cancel"): Promise<string> {
    const dialog = page.locator("dialog#confirm");
    await dialog.waitFor({ state: "visible" });
    const question = (await page.locator("#confirm-text").textContent()) ?? "";
    await page.locator(answer === "ok" ? "#confirm-ok" : "#confirm-cancel").click();
    await dialog.waitFor({ state: "hidden" });
    return question;
  }

  beforeAll(async () => {
    provider = await SqliteProvider.inMemory();
    demo = await seedDemoStore(provider);
    dash = await startDashboard({ provider, port: 0, refreshMs: 200 });
    browser = await chromium.launch({ executablePath });
    page = await browser.newPage();
    // A native alert/confirm never appears on the dashboard (its confirmation is a <dialog>), so
    // any dialog is injected script that ran.
    page.on("dialog", (d) => {
      dialogs.push(d.message());
      void d.dismiss();
    });
  });

  afterAll(async () => {
    await browser?.close();
    await dash?.stop();
    await demo?.stop();
    provider?.close();
  });

  describe("dashboard in the browser", () => {
    test("instance list: every instance with its status, counts per status and queue depths", async () => {
      await open("/");
      const rows = page.locator("#instances tbody tr[data-instance]");
      await rows.first().waitFor();
      const shown = await rows.evaluateAll((trs) => trs.map((tr) => [tr.getAttribute("data-instance"), tr.querySelector(".badge")?.textContent]));
      expect(Object.fromEntries(shown)).toMatchObject({
        [DEMO_IDS.completed]: "Completed",
        [DEMO_IDS.failed]: "Failed",
        [DEMO_IDS.waiting]: "Running",
        [DEMO_IDS.parent]: "Completed",
        [demo.childIds[0]!]: "Completed",
      });
      const metrics = await demo.client.getSystemMetrics();
      expect(await page.locator('[data-count="Running"]').textContent()).toBe(String((await demo.client.listInstancesByStatus("Running")).length));
      expect(await page.locator('[data-count="Failed"]').textContent()).toBe(String(metrics.failed_instances));
      const depths = await demo.client.getQueueDepths();
      expect(await page.locator('[data-queue="worker"]').textContent()).toBe(String(depths.worker_queue));
    });

    test("status filter, id-prefix search and paging narrow and step through the list", async () => {
      await open("/");
      await page.locator('button[data-filter="Failed"]').click();
      // The address changes before the list is read: wait for the list drawn for the filter.
      await page.locator('button.chip.active[data-filter="Failed"]').waitFor();
      await expect(page.locator("#instances tbody tr[data-instance]").evaluateAll((trs) => trs.map((t) => t.getAttribute("data-instance")))).resolves.toEqual([DEMO_IDS.failed]);

      await page.locator('button[data-filter=""]').click();
      await page.locator("#prefix").fill(`${DEMO_IDS.parent}::`);
      await page.locator("#prefix").press("Enter");
      await page.locator("#pager").getByText(`· ${demo.childIds.length} instances`).waitFor();
      const children = page.locator("#instances tbody tr[data-instance]");
      await expect(children.evaluateAll((trs) => trs.map((t) => t.getAttribute("data-instance")).sort())).resolves.toEqual([...demo.childIds].sort());

      await open("/?pageSize=3");
      const total = (await demo.client.listAllInstances()).length;
      const seen = new Set<string>();
      for (let p = 0; p < Math.ceil(total / 3); p++) {
        await page.locator("#pager").getByText(`Page ${p + 1} of ${Math.ceil(total / 3)}`).waitFor();
        for (const id of await page.locator("#instances tbody tr[data-instance]").evaluateAll((trs) => trs.map((t) => t.getAttribute("data-instance")!))) seen.add(id);
        if (p + 1 < Math.ceil(total / 3)) await page.locator('button[data-page="next"]').click();
      }
      expect(seen.size).toBe(total);
      expect(await page.locator('button[data-page="next"]').isDisabled()).toBe(true);
    });

    test("a slow answer for an earlier filter never replaces the list of a later one", async () => {
      const p = await browser.newPage();
      try {
        // Counts response bodies still being read; each is done one task after its JSON is in,
        // i.e. after the page's code awaiting it has run (microtasks drain before the next task).
        await p.addInitScript(() => {
          const w = globalThis as unknown as { __reading: number };
          w.__reading = 0;
          const json = Response.prototype.json;
          Response.prototype.json = function () {
            w.__reading++;
            return json.call(this).finally(() => setTimeout(() => w.__reading--, 0));
          };
        });
        await p.goto(new URL("/", dash.url).toString());
        await p.locator("#instances tbody tr[data-instance]").first().waitFor();
        let release!: () => void;
        const held = new Promise<void>((r) => (release = r));
        let arrived!: () => void;
        const requested = new Promise<void>((r) => (arrived = r));
        await p.route(/\/api\/instances\?status=Failed/, async (route) => {
          arrived();
          await held;
          await route.continue();
        });
        await p.locator('button[data-filter="Failed"]').click();
        await requested;
        await p.locator('button[data-filter="Completed"]').click();
        await p.locator('button.chip.active[data-filter="Completed"]').waitFor();
        const late = p.waitForResponse(/status=Failed/);
        release();
        await late;
        await p.waitForFunction(() => (globalThis as unknown as { __reading: number }).__reading === 0);
        expect(await p.locator("button.chip.active").getAttribute("data-filter")).toBe("Completed");
        const badges = await p.locator("#instances tbody tr[data-instance] .badge").allTextContents();
        expect(badges.length).toBeGreaterThan(0);
        expect(new Set(badges)).toEqual(new Set(["Completed"]));
      } finally {
        await p.close();
      }
    });

    test("completed instance: status, input, output, custom status, KV and one timeline bar per activity", async () => {
      await open(instancePath(DEMO_IDS.completed));
      await page.locator("#timeline .bar").first().waitFor();
      expect(await statusBadge().textContent()).toBe("Completed");
      expect(JSON.parse((await page.locator("#input").textContent())!)).toMatchObject({ id: "1001", items: ["book", "lamp", "tea"] });
      expect(JSON.parse((await page.locator("#output").textContent())!)).toMatchObject({ charge: "ch_42" });
      expect(await page.locator("#custom-status").textContent()).toBe("shipped");
      expect(await page.locator("#kv").textContent()).toContain("chargeId");
      const history = await demo.client.readExecutionHistory(DEMO_IDS.completed);
      const activities = history.filter((e) => e.type === "ActivityScheduled").length;
      expect(await page.locator('#timeline .bar[data-kind="activity"]').count()).toBe(activities);
      expect(await page.locator('#timeline .bar[data-kind="timer"]').count()).toBe(1);
      expect(await page.locator("#history tbody tr").count()).toBe(history.length);
    });

    test("failed instance: the error text, and the failed activity as a red bar", async () => {
      await open(instancePath(DEMO_IDS.failed));
      await page.locator("#error").waitFor();
      expect(await statusBadge().textContent()).toBe("Failed");
      expect(await page.locator("#error").textContent()).toContain(DEMO_FAILURE_MESSAGE);
      const failed = page.locator('#timeline .bar[data-state="failed"]');
      expect(await failed.count()).toBe(1);
      expect(await failed.getAttribute("title")).toContain(DEMO_FAILURE_MESSAGE);
      const colour = await failed.evaluate((el) => (globalThis as unknown as { getComputedStyle(e: unknown): { backgroundColor: string } }).getComputedStyle(el).backgroundColor);
      expect(colour).toBe("rgb(208, 49, 45)");
      expect(await page.locator('#timeline .mark[data-type="OrchestrationFailed"].failed').count()).toBe(1);
    });

    test("parent and children: the tree links every child, sub-orchestration bars link to them, a child links to its parent", async () => {
      await open(instancePath(DEMO_IDS.parent));
      await page.locator("#tree li").first().waitFor();
      const linked = await page.locator("#tree li li > a").evaluateAll((as) => as.map((a) => a.textContent));
      expect(linked).toEqual(demo.childIds);
      expect(await page.locator('#timeline .bar[data-kind="sub-orchestration"]').count()).toBe(demo.childIds.length);

      await page.locator("#tree li li > a").first().click();
      await page.waitForURL((u) => u.searchParams.get("id") === demo.childIds[0]);
      await page.locator("#parent-link").waitFor();
      expect(await page.locator("#parent-link").textContent()).toBe(DEMO_IDS.parent);
      expect(await page.locator("#tree .current").textContent()).toBe(demo.childIds[0]!);
    });

    test("raise event through the UI: asks first, then the waiting instance completes with the data", async () => {
      const id = "ui-raise";
      await startWaiting(id);
      await open(instancePath(id));
      await statusBadge().waitFor();
      expect(await statusBadge().textContent()).toBe("Running");
      await page.locator("#event-name").fill(DEMO_EVENT_NAME);
      await page.locator("#event-data").fill('{"approved": true, "by": "ui"}');
      await page.locator("#raise-button").click();
      expect(await confirm("ok")).toContain(id);
      const status = await demo.client.waitForOrchestration(id, { timeoutMs: 10_000 });
      expect(status).toMatchObject({ status: "Completed", output: { approved: true, by: "ui" } });
      await page.locator('#status .badge[data-status="Completed"]').waitFor();
    });

    test("an open page of a running instance refreshes itself when the instance changes", async () => {
      const id = "ui-live";
      await startWaiting(id);
      await open(instancePath(id));
      await page.locator('#status .badge[data-status="Running"]').waitFor();
      await demo.client.raiseEvent(id, DEMO_EVENT_NAME, { approved: false });
      await page.locator('#status .badge[data-status="Completed"]').waitFor({ timeout: 10_000 });
      expect(await page.locator("#custom-status").textContent()).toBe("rejected");
    });

    test("cancel through the UI: dismissing the question does nothing, confirming fails the instance as cancelled", async () => {
      const id = "ui-cancel";
      await startWaiting(id);
      await open(instancePath(id));
      await page.locator("#cancel-reason").fill("stopped in the browser test");
      await page.locator("#cancel-button").click();
      await confirm("cancel");
      expect((await demo.client.getOrchestrationStatus(id)).status).toBe("Running");
      expect((await demo.client.getQueueDepths()).orchestrator_queue).toBe(0);

      await page.locator("#cancel-button").click();
      await confirm("ok");
      const status = await demo.client.waitForOrchestration(id, { timeoutMs: 10_000 });
      expect(status.status === "Failed" && status.message).toContain("stopped in the browser test");
      await page.locator('#status .badge[data-status="Failed"]').waitFor();
    });

    test("delete through the UI: refused for a running instance unless forced", async () => {
      const id = "ui-delete";
      await startWaiting(id);
      await open(instancePath(id));
      await page.locator("#delete-button").click();
      await confirm("ok");
      await page.locator("#notice.error").waitFor();
      expect(await page.locator("#notice").textContent()).toContain("still running");
      expect((await demo.client.getOrchestrationStatus(id)).status).toBe("Running");

      await page.locator("#delete-force").check();
      await page.locator("#delete-button").click();
      expect(await confirm("ok")).toContain("even if running");
      await page.waitForURL((u) => u.pathname === "/");
      expect((await demo.client.getOrchestrationStatus(id)).status).toBe("NotFound");
    });

    test("ids, payloads, custom status and event data made of HTML and script are shown as text, never run", async () => {
      const id = `<img src=x onerror="alert('id')">`;
      const approver = `<script>alert('input')</script><b>bold</b>`;
      await startWaiting(id, approver);
      await open("/");
      const row = page.locator("#instances tbody tr").filter({ hasText: "<img" });
      await row.first().waitFor();
      expect(await row.locator("td.id a").textContent()).toBe(id);
      expect(await page.locator(INJECTED).count()).toBe(0);

      await row.locator("td.id a").click();
      await page.locator("#custom-status").waitFor();
      expect(await page.locator("#instance-id").textContent()).toBe(id);
      expect(await page.locator("#custom-status").textContent()).toBe(`waiting for ${approver}`);
      expect(JSON.parse((await page.locator("#input").textContent())!)).toEqual({ approver });

      await page.locator("#event-name").fill(DEMO_EVENT_NAME);
      await page.locator("#event-data").fill(JSON.stringify({ note: `<svg onload="alert('data')">` }));
      await page.locator("#raise-button").click();
      expect(await confirm("ok")).toContain(id);
      await demo.client.waitForOrchestration(id, { timeoutMs: 10_000 });
      await page.locator('#status .badge[data-status="Completed"]').waitFor();
      expect(await page.locator("#history").textContent()).toContain(`<svg onload=`);
      expect(await page.locator(INJECTED).count()).toBe(0);
      expect(dialogs).toEqual([]);
    });

    test("read-only dashboard: shows the instance without action controls", async () => {
      const ro = await startDashboard({ provider, port: 0, readOnly: true });
      try {
        await page.goto(new URL(instancePath(DEMO_IDS.waiting), ro.url).toString());
        await statusBadge().waitFor();
        expect(await page.locator("#mode").textContent()).toBe("read-only");
        expect(await page.locator("#actions").count()).toBe(0);
        expect(await page.getByText("Read-only: actions are disabled.").count()).toBe(1);
      } finally {
        await ro.stop();
      }
    });
  });
}
