/**
 * `startDashboard`: a small web app over any store (README "The dashboard"). `Bun.serve` answers
 * three kinds of routes:
 * - the page: `/` (instance list) and `/instance?id=` (one instance) serve the same static HTML
 *   shell; `/app.js` and `/style.css` are separate routes so the Content-Security-Policy needs no
 *   inline script (http-responses.ts);
 * - the JSON API the page reads: `/api/config`, `/api/instances`, `/api/instance`;
 * - actions: `POST /api/actions/{raise-event,cancel,delete}` (actions.ts).
 * Every request passes the guard first (request-guard.ts: Host, token; actions also POST, JSON and
 * same origin). Everything read or changed goes through `Client` (docs/runtime-semantics.md §4).
 */
import { Client } from "../client.ts";
import { ConfigurationError } from "../core/errors.ts";
import type { Provider } from "../provider.ts";
import { openStoreUrl } from "../tools/store-url.ts";
import { tokenCookieName } from "./access-token.ts";
import { isActionName, runAction } from "./actions.ts";
import { errorResponse, jsonResponse, responseForError, withSecurityHeaders } from "./http-responses.ts";
import { listInstancePage, parseListQuery } from "./instance-list.ts";
import { parseInstanceQuery, readInstanceView } from "./instance-view.ts";
import { resolveDashboardOptions, type DashboardOptions, type ResolvedDashboardOptions } from "./options.ts";
import { checkAccess, checkStateChange } from "./request-guard.ts";

export type { DashboardOptions } from "./options.ts";

export interface RunningDashboard {
  /** The address to open; includes `?token=` when a token is required. */
  url: string;
  port: number;
  /** The access token, or null when none is required. */
  token: string | null;
  readOnly: boolean;
  /** Stops listening and closes the store when the dashboard opened it. */
  stop(): Promise<void>;
}

/** Largest action body: an event payload the client accepts (1 MiB of JSON) plus its envelope. */
const MAX_BODY_BYTES = 1024 * 1024 + 64 * 1024;
/**
 * What Bun itself reads at most. Above it Bun answers 413 on its own, with no body and none of
 * the security headers; between the two the handler refuses with a JSON message saying the limit.
 */
const SERVER_BODY_LIMIT = 2 * MAX_BODY_BYTES;

const STATIC_FILES: Record<string, { file: string; type: string }> = {
  "/": { file: "index.html", type: "text/html; charset=utf-8" },
  "/instance": { file: "index.html", type: "text/html; charset=utf-8" },
  "/app.js": { file: "app.js", type: "text/javascript; charset=utf-8" },
  "/style.css": { file: "style.css", type: "text/css; charset=utf-8" },
};

export async function startDashboard(options: DashboardOptions): Promise<RunningDashboard> {
  const cfg = resolveDashboardOptions(options);
  const statics = await loadStaticFiles();
  const provider: Provider & { close?(): unknown } = cfg.source.kind === "store" ? await openStoreUrl(cfg.source.url) : cfg.source.provider;
  const closeStore = async () => {
    if (cfg.source.kind === "store") await provider.close?.();
  };
  if (provider.asManagementCapability() === null) {
    await closeStore();
    throw new ConfigurationError(`startDashboard: provider ${provider.name()} has no management capability; the dashboard lists instances through it`);
  }
  const client = new Client(provider);

  let server: ReturnType<typeof Bun.serve>;
  try {
    server = Bun.serve({
      hostname: cfg.host,
      port: cfg.port,
      maxRequestBodySize: SERVER_BODY_LIMIT,
      fetch: (req) => handle(req, cfg, server.port!, client, statics),
      error: (err) => responseForError(err),
    });
  } catch (err) {
    await closeStore();
    throw new ConfigurationError(`startDashboard: cannot listen on ${cfg.host}:${cfg.port}: ${(err as Error).message} (pick another --port, or 0 for a free one)`);
  }
  const port = server.port!;
  const host = cfg.host.includes(":") && !cfg.host.startsWith("[") ? `[${cfg.host}]` : cfg.host;
  const url = `http://${host}:${port}/${cfg.token === null ? "" : `?token=${cfg.token}`}`;
  let stopped = false;
  return {
    url,
    port,
    token: cfg.token,
    readOnly: cfg.readOnly,
    async stop() {
      if (stopped) return;
      stopped = true;
      await server.stop(true);
      await closeStore();
    },
  };
}

type StaticFiles = Record<string, { body: string; type: string }>;

async function loadStaticFiles(): Promise<StaticFiles> {
  const out: StaticFiles = {};
  for (const [route, { file, type }] of Object.entries(STATIC_FILES)) {
    out[route] = { body: await Bun.file(new URL(`./static/${file}`, import.meta.url)).text(), type };
  }
  return out;
}

async function handle(req: Request, cfg: ResolvedDashboardOptions, port: number, client: Client, statics: StaticFiles): Promise<Response> {
  const guard = { port, loopback: cfg.loopback, token: cfg.token };
  const refused = checkAccess(req, guard);
  if (refused !== null) return errorResponse(refused.status, refused.message);
  const url = new URL(req.url);
  const path = url.pathname;

  if (path.startsWith("/api/actions/")) {
    const notAllowed = checkStateChange(req);
    if (notAllowed !== null) return errorResponse(notAllowed.status, notAllowed.message);
    const action = path.slice("/api/actions/".length);
    if (!isActionName(action)) return errorResponse(404, `no action ${JSON.stringify(action)} (actions: raise-event, cancel, delete)`);
    if (cfg.readOnly) return errorResponse(403, "this dashboard is read-only (started with --read-only): actions are refused");
    const tooLarge = () =>
      errorResponse(413, `the action body is over ${MAX_BODY_BYTES} bytes: event data is limited to 1 MiB of JSON (store large data elsewhere and send a reference)`);
    if (Number(req.headers.get("content-length") ?? 0) > MAX_BODY_BYTES) return tooLarge();
    try {
      const body = await req.text();
      if (Buffer.byteLength(body) > MAX_BODY_BYTES) return tooLarge();
      return jsonResponse(await runAction(client, action, body));
    } catch (err) {
      return responseForError(err);
    }
  }

  if (req.method !== "GET" && req.method !== "HEAD") return errorResponse(405, `${req.method} is not allowed here: pages and reads are GET, actions are POST /api/actions/...`);

  const page = statics[path];
  if (page !== undefined) {
    // The token arrives once in the printed URL; keep it in a cookie and take it out of the address bar.
    if (cfg.token !== null && url.searchParams.has("token")) {
      url.searchParams.delete("token");
      const cookie = `${tokenCookieName(port)}=${cfg.token}; HttpOnly; SameSite=Strict; Path=/`;
      return new Response(null, { status: 303, headers: withSecurityHeaders({ Location: url.pathname + url.search, "Set-Cookie": cookie }) });
    }
    return new Response(page.body, { headers: withSecurityHeaders({ "Content-Type": page.type }) });
  }

  try {
    switch (path) {
      case "/api/config":
        return jsonResponse({ readOnly: cfg.readOnly, refreshMs: cfg.refreshMs });
      case "/api/instances":
        return jsonResponse(await listInstancePage(client, parseListQuery(url.searchParams)));
      case "/api/instance": {
        const q = parseInstanceQuery(url.searchParams);
        return jsonResponse(await readInstanceView(client, q.instanceId, q.executionId));
      }
      default:
        return errorResponse(404, `no page or API route at ${path}`);
    }
  } catch (err) {
    return responseForError(err);
  }
}
