// The dashboard's HTTP surface without a browser: what the JSON API answers, and who it refuses
// (request-guard.ts): cross-origin and cross-site actions, foreign Host headers, missing tokens,
// actions on a read-only dashboard. Every refusal is checked against the store, not just the status.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { CONTENT_SECURITY_POLICY } from "../../src/dashboard/http-responses.ts";
import { DEMO_EVENT_NAME, DEMO_FAILURE_MESSAGE, DEMO_IDS, seedDemoStore, type DemoStore } from "../../src/dashboard/demo-store.ts";
import { startDashboard, type RunningDashboard } from "../../src/dashboard/server.ts";
import { SqliteProvider } from "../../src/providers/sqlite.ts";

let provider: SqliteProvider;
let demo: DemoStore;
let dash: RunningDashboard;
let base: string;

beforeAll(async () => {
  provider = await SqliteProvider.inMemory();
  demo = await seedDemoStore(provider);
  dash = await startDashboard({ provider, port: 0 });
  base = `http://127.0.0.1:${dash.port}`;
});

afterAll(async () => {
  await dash.stop();
  await demo.stop();
  provider.close();
});

/** The JSON body of an answer (the API's shapes are checked by the assertions themselves). */
const json = (res: Response): Promise<any> => res.json();
const get = (path: string, headers: Record<string, string> = {}) => fetch(base + path, { headers });
const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(base + path, { method: "POST", headers: { "Content-Type": "application/json", Origin: base, "Sec-Fetch-Site": "same-origin", ...headers }, body: JSON.stringify(body) });

/** Starts another instance waiting for DEMO_EVENT_NAME, and returns once its wait is recorded. */
async function startWaiting(id: string): Promise<void> {
  await demo.client.startOrchestration(id, "AwaitApproval", { approver: "bob" });
  await demo.client.waitForStatusChange(id, 0, { timeoutMs: 10_000 });
}

describe("dashboard API reads", () => {
  test("instance list: counts per status, queue depths, status filter, prefix search, paging", async () => {
    const all = await json(await get("/api/instances"));
    expect(all.counts).toEqual({ all: 7, Running: 1, Completed: 5, Failed: 1, ContinuedAsNew: 0 });
    expect(all.queues).toMatchObject({ orchestrator_queue: expect.any(Number), worker_queue: expect.any(Number) });
    expect(all.items.map((i: { instanceId: string }) => i.instanceId).sort()).toEqual([DEMO_IDS.completed, DEMO_IDS.failed, DEMO_IDS.waiting, DEMO_IDS.parent, ...demo.childIds].sort());

    const failed = await json(await get("/api/instances?status=Failed"));
    expect(failed.items.map((i: { instanceId: string; status: string }) => [i.instanceId, i.status])).toEqual([[DEMO_IDS.failed, "Failed"]]);

    const batch = await json(await get(`/api/instances?prefix=${encodeURIComponent(DEMO_IDS.parent + "::")}`));
    expect(batch.total).toBe(3);
    expect(batch.items.every((i: { parentInstanceId: string }) => i.parentInstanceId === DEMO_IDS.parent)).toBe(true);

    const pages = await Promise.all([0, 1, 2, 3].map(async (p) => json(await get(`/api/instances?pageSize=2&page=${p}`))));
    expect(pages.map((p) => p.items.length)).toEqual([2, 2, 2, 1]);
    expect(pages[0].pageCount).toBe(4);
    expect(new Set(pages.flatMap((p) => p.items.map((i: { instanceId: string }) => i.instanceId))).size).toBe(7);
  });

  test("bad list parameters are 400 with a message naming the parameter", async () => {
    for (const [query, message] of [
      ["status=Sleeping", /status must be one of Running, Completed, Failed, ContinuedAsNew/],
      ["page=-1", /page must be an integer/],
      ["pageSize=0", /pageSize must be an integer from 1 to 500/],
      ["pageSize=abc", /pageSize/],
    ] as const) {
      const res = await get(`/api/instances?${query}`);
      expect(res.status).toBe(400);
      expect((await json(res)).error).toMatch(message);
    }
  });

  test("instance view: output, error text, custom status, KV, a timeline bar per activity, the family tree", async () => {
    const done = await json(await get(`/api/instance?id=${DEMO_IDS.completed}`));
    expect(done.status).toMatchObject({ status: "Completed", customStatus: "shipped" });
    expect(done.status.output.shipped).toHaveLength(3);
    expect(JSON.parse(done.input)).toMatchObject({ id: "1001" });
    expect(done.kv).toEqual({ chargeId: "ch_42", shipments: 3 });
    const scheduled = done.history.filter((e: { type: string }) => e.type === "ActivityScheduled").length;
    expect(done.timeline.bars.filter((b: { kind: string }) => b.kind === "activity")).toHaveLength(scheduled);
    expect(done.timeline.bars.filter((b: { kind: string }) => b.kind === "timer")).toHaveLength(1);
    expect(done.executions).toMatchObject([{ execution_id: 1, status: "Completed" }]);

    const failed = await json(await get(`/api/instance?id=${DEMO_IDS.failed}`));
    expect(failed.status.status).toBe("Failed");
    expect(failed.status.message).toContain(DEMO_FAILURE_MESSAGE);
    expect(failed.timeline.bars.find((b: { label: string }) => b.label === "Charge")).toMatchObject({ state: "failed", message: DEMO_FAILURE_MESSAGE });

    const child = await json(await get(`/api/instance?id=${encodeURIComponent(demo.childIds[0]!)}`));
    expect(child.family.parentInstanceId).toBe(DEMO_IDS.parent);
    expect(child.family.root.instanceId).toBe(DEMO_IDS.parent);
    expect(child.family.root.children.map((c: { instanceId: string }) => c.instanceId)).toEqual(demo.childIds);
  });

  test("instance view of an unknown id is 404, a missing id or bad execution 400", async () => {
    expect((await get("/api/instance?id=nope")).status).toBe(404);
    expect((await get("/api/instance")).status).toBe(400);
    expect((await get(`/api/instance?id=${DEMO_IDS.completed}&execution=0`)).status).toBe(400);
    const res = await get(`/api/instance?id=${DEMO_IDS.completed}&execution=7`);
    expect(res.status).toBe(400);
    expect((await json(res)).error).toMatch(/no execution 7/);
  });

  test("every answer carries the strict CSP; the page shell never reflects the query", async () => {
    const hostile = "<script>alert(1)</script>";
    const page = await get(`/instance?id=${encodeURIComponent(hostile)}`);
    expect(page.headers.get("content-security-policy")).toBe(CONTENT_SECURITY_POLICY);
    expect(CONTENT_SECURITY_POLICY).toContain("script-src 'self'");
    expect(CONTENT_SECURITY_POLICY).not.toContain("unsafe-inline");
    const html = await page.text();
    expect(html).not.toContain("alert(1)");
    expect(html).not.toMatch(/<script>(?!<)/); // scripts only by src=
    const api = await get(`/api/instance?id=${encodeURIComponent(hostile)}`);
    expect(api.headers.get("content-type")).toStartWith("application/json");
    expect(api.headers.get("x-content-type-options")).toBe("nosniff");
  });
});

describe("dashboard API actions and who may call them", () => {
  test("a same-origin raise-event reaches the instance (the guard lets the dashboard's own page through)", async () => {
    const id = "api-raise";
    await startWaiting(id);
    const res = await post("/api/actions/raise-event", { instanceId: id, eventName: DEMO_EVENT_NAME, data: { approved: true } });
    expect(res.status).toBe(200);
    const status = await demo.client.waitForOrchestration(id, { timeoutMs: 10_000 });
    expect(status).toMatchObject({ status: "Completed", output: { approved: true } });
  });

  test("a cross-origin or cross-site action is refused with 403 and the store is unchanged", async () => {
    const id = "api-cross-origin";
    await startWaiting(id);
    const before = await demo.client.readExecutionHistory(id);
    const attempts = [
      await post("/api/actions/cancel", { instanceId: id }, { Origin: "http://evil.example", "Sec-Fetch-Site": "cross-site" }),
      await post("/api/actions/cancel", { instanceId: id }, { Origin: "http://evil.example", "Sec-Fetch-Site": "" }),
      await post("/api/actions/cancel", { instanceId: id }, { Origin: `http://localhost:${dash.port}`, "Sec-Fetch-Site": "same-site" }),
      await post("/api/actions/cancel", { instanceId: id }, { Origin: "null" }),
      await post("/api/actions/delete", { instanceId: id, force: true }, { Origin: "http://127.0.0.1:1" }),
    ];
    for (const res of attempts) {
      expect(res.status).toBe(403);
      expect((await json(res)).error).toMatch(/cross-origin request refused/);
    }
    // Nothing was enqueued: the queue is empty, the history unchanged and the instance still waits.
    expect((await demo.client.getQueueDepths()).orchestrator_queue).toBe(0);
    expect(await demo.client.readExecutionHistory(id)).toEqual(before);
    expect((await demo.client.getOrchestrationStatus(id)).status).toBe("Running");
  });

  test("actions are POST with a JSON body only: a GET is 405, a form post 415", async () => {
    const id = DEMO_IDS.waiting;
    expect((await get(`/api/actions/cancel?instanceId=${id}`)).status).toBe(405);
    const form = await fetch(`${base}/api/actions/cancel`, { method: "POST", headers: { "Content-Type": "application/x-www-form-urlencoded" }, body: `instanceId=${id}` });
    expect(form.status).toBe(415);
    expect((await demo.client.getOrchestrationStatus(id)).status).toBe("Running");
  });

  test("an action body over the limit is 413 with a JSON message and the security headers", async () => {
    const res = await post("/api/actions/raise-event", { instanceId: DEMO_IDS.waiting, eventName: DEMO_EVENT_NAME, data: "x".repeat(1024 * 1024 + 70 * 1024) });
    expect(res.status).toBe(413);
    expect(res.headers.get("content-security-policy")).toBe(CONTENT_SECURITY_POLICY);
    expect((await json(res)).error).toMatch(/over \d+ bytes: event data is limited to 1 MiB of JSON/);
    expect((await demo.client.getOrchestrationStatus(DEMO_IDS.waiting)).status).toBe("Running");
  });

  test("malformed action bodies are 400 naming the problem; unknown actions 404", async () => {
    const cases: [string, unknown, RegExp][] = [
      ["raise-event", { instanceId: "x" }, /eventName must be a string \(missing\)/],
      ["raise-event", [1], /body must be a JSON object/],
      ["cancel", { instanceId: 5 }, /instanceId must be a string/],
      ["cancel", { instanceId: "x", extra: 1 }, /unknown field\(s\) extra/],
      ["delete", { instanceId: "x", force: "yes" }, /force must be true or false/],
      ["raise-event", { instanceId: "", eventName: "e" }, /instanceId/],
    ];
    for (const [action, body, message] of cases) {
      const res = await post(`/api/actions/${action}`, body);
      expect(res.status).toBe(400);
      expect((await json(res)).error).toMatch(message);
    }
    expect((await post("/api/actions/terminate", { instanceId: "x" })).status).toBe(404);
  });

  test("delete is refused for a running instance unless forced, and cancel ends a running one", async () => {
    const id = "api-delete";
    await startWaiting(id);
    const refused = await post("/api/actions/delete", { instanceId: id });
    expect(refused.status).toBe(409);
    expect(await json(refused)).toMatchObject({ code: "InstanceStillRunning" });
    expect((await demo.client.getOrchestrationStatus(id)).status).toBe("Running");

    const cancel = await post("/api/actions/cancel", { instanceId: id, reason: "api test" });
    expect(cancel.status).toBe(200);
    const ended = await demo.client.waitForOrchestration(id, { timeoutMs: 10_000 });
    expect(ended.status === "Failed" && ended.message).toContain("api test");

    const forced = await post("/api/actions/delete", { instanceId: id, force: true });
    expect(forced.status).toBe(200);
    expect((await demo.client.getOrchestrationStatus(id)).status).toBe("NotFound");
  });

  test("a Host header other than loopback is refused before anything is read (DNS rebinding)", async () => {
    for (const host of ["evil.example", `evil.example:${dash.port}`, `127.0.0.1:${dash.port + 1}`, `localhost.evil.example:${dash.port}`]) {
      const res = await get("/api/instances", { Host: host });
      expect(res.status).toBe(403);
      expect((await json(res)).error).toMatch(/not this dashboard's loopback address/);
    }
    for (const host of [`localhost:${dash.port}`, `127.0.0.1:${dash.port}`, `[::1]:${dash.port}`]) {
      expect((await get("/api/config", { Host: host })).status).toBe(200);
    }
  });
});

describe("dashboard token and read-only mode", () => {
  test("with a token every request needs it; the printed URL trades it for an HttpOnly SameSite=Strict cookie", async () => {
    const withToken = await startDashboard({ provider, port: 0, token: "test-token-0123456789" });
    try {
      const b = `http://127.0.0.1:${withToken.port}`;
      expect(withToken.url).toBe(`${b}/?token=test-token-0123456789`);
      expect((await fetch(`${b}/`)).status).toBe(401);
      expect((await fetch(`${b}/api/instances`)).status).toBe(401);
      expect((await fetch(`${b}/api/instances`, { headers: { Authorization: "Bearer wrong-token-0123456789" } })).status).toBe(401);
      expect((await fetch(`${b}/api/instances`, { headers: { Authorization: "Bearer test-token-0123456789" } })).status).toBe(200);

      const landing = await fetch(withToken.url, { redirect: "manual" });
      expect(landing.status).toBe(303);
      expect(landing.headers.get("location")).toBe("/");
      const cookie = landing.headers.get("set-cookie")!;
      expect(cookie).toContain("HttpOnly");
      expect(cookie).toContain("SameSite=Strict");
      const pair = cookie.split(";")[0]!;
      expect((await fetch(`${b}/api/instances`, { headers: { Cookie: pair } })).status).toBe(200);

      // The token does not excuse a cross-origin action.
      const cross = await fetch(`${b}/api/actions/cancel`, {
        method: "POST",
        headers: { Cookie: pair, "Content-Type": "application/json", Origin: "http://evil.example" },
        body: JSON.stringify({ instanceId: DEMO_IDS.waiting }),
      });
      expect(cross.status).toBe(403);
    } finally {
      await withToken.stop();
    }
  });

  test("a read-only dashboard shows everything and refuses every action; the store is unchanged", async () => {
    const ro = await startDashboard({ provider, port: 0, readOnly: true });
    try {
      const b = `http://127.0.0.1:${ro.port}`;
      expect(await json(await fetch(`${b}/api/config`))).toMatchObject({ readOnly: true });
      expect((await fetch(`${b}/api/instance?id=${DEMO_IDS.waiting}`)).status).toBe(200);
      for (const [action, body] of [
        ["raise-event", { instanceId: DEMO_IDS.waiting, eventName: DEMO_EVENT_NAME, data: { approved: true } }],
        ["cancel", { instanceId: DEMO_IDS.waiting }],
        ["delete", { instanceId: DEMO_IDS.completed, force: true }],
      ] as const) {
        const res = await fetch(`${b}/api/actions/${action}`, { method: "POST", headers: { "Content-Type": "application/json", Origin: b }, body: JSON.stringify(body) });
        expect(res.status).toBe(403);
        expect((await json(res)).error).toMatch(/read-only/);
      }
      expect((await demo.client.getQueueDepths()).orchestrator_queue).toBe(0);
      expect((await demo.client.getOrchestrationStatus(DEMO_IDS.waiting)).status).toBe("Running");
      expect((await demo.client.getOrchestrationStatus(DEMO_IDS.completed)).status).toBe("Completed");
    } finally {
      await ro.stop();
    }
  });
});
