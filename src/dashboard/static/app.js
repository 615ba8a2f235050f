// The dashboard's page script (served as /app.js; see src/dashboard/server.ts).
// Every value from the store (ids, names, payloads, error messages, custom status, KV values) is
// user data: it only ever enters the page as text (textContent, setAttribute on inert attributes),
// never as HTML, so an instance id like "<img onerror=...>" is shown, not run.
"use strict";

const main = document.getElementById("main");
const notice = document.getElementById("notice");
let config = { readOnly: true, refreshMs: 1000 };
let refreshTimer = null;
/** Bumped on every navigation, so a read still in flight for the previous page is dropped. */
let generation = 0;

// ------------------------------------------------------------------ DOM helpers

/** Builds an element; strings and numbers become text nodes, null/false children are skipped. */
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") el.className = v;
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

function instanceHref(id, execution) {
  return "/instance?id=" + encodeURIComponent(id) + (execution ? "&execution=" + execution : "");
}

function time(ms) {
  return typeof ms === "number" && ms > 0 ? new Date(ms).toISOString().replace("T", " ").slice(0, 23) : "—";
}

function duration(ms) {
  if (ms < 1000) return Math.round(ms) + " ms";
  if (ms < 60_000) return (ms / 1000).toFixed(ms < 10_000 ? 2 : 1) + " s";
  return (ms / 60_000).toFixed(1) + " min";
}

/** A JSON text shown pretty-printed when it parses, verbatim when it does not. */
function jsonText(text) {
  if (text === null || text === undefined) return "—";
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return String(text);
  }
}

function pretty(value) {
  return value === undefined ? "—" : JSON.stringify(value, null, 2);
}

function badge(status) {
  return h("span", { class: "badge " + status, "data-status": status }, status);
}

function showNotice(message, isError) {
  notice.textContent = message;
  notice.className = "notice" + (isError ? " error" : "");
  notice.hidden = false;
}

function clearNotice() {
  notice.hidden = true;
  notice.textContent = "";
}

// ------------------------------------------------------------------ API

async function api(path) {
  const res = await fetch(path, { headers: { Accept: "application/json" } });
  const body = await res.json().catch(() => ({ error: "the server answered " + res.status + " without JSON" }));
  if (!res.ok) throw new Error(body.error || "HTTP " + res.status);
  return body;
}

async function act(action, body) {
  const res = await fetch("/api/actions/" + action, {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "application/json" },
    body: JSON.stringify(body),
  });
  const answer = await res.json().catch(() => ({ error: "the server answered " + res.status + " without JSON" }));
  if (!res.ok) throw new Error(answer.error || "HTTP " + res.status);
  return answer;
}

/** Asks before an action, in a modal dialog; resolves true when confirmed. */
function confirmAction(text, okLabel) {
  const dialog = document.getElementById("confirm");
  document.getElementById("confirm-text").textContent = text;
  const ok = document.getElementById("confirm-ok");
  const cancel = document.getElementById("confirm-cancel");
  ok.textContent = okLabel;
  return new Promise((resolve) => {
    const done = (answer) => {
      ok.removeEventListener("click", onOk);
      cancel.removeEventListener("click", onCancel);
      dialog.removeEventListener("cancel", onCancel);
      dialog.close();
      resolve(answer);
    };
    const onOk = () => done(true);
    const onCancel = () => done(false);
    ok.addEventListener("click", onOk);
    cancel.addEventListener("click", onCancel);
    dialog.addEventListener("cancel", onCancel);
    dialog.showModal();
  });
}

// ------------------------------------------------------------------ instance list

const STATUSES = ["Running", "Completed", "Failed", "ContinuedAsNew"];

async function renderList() {
  const params = new URLSearchParams(location.search);
  const query = { status: params.get("status") || "", prefix: params.get("prefix") || "", page: Number(params.get("page") || 0), pageSize: params.get("pageSize") || "" };
  const go = (change) => {
    const next = { ...query, page: 0, ...change };
    const p = new URLSearchParams();
    if (next.status) p.set("status", next.status);
    if (next.prefix) p.set("prefix", next.prefix);
    if (next.page) p.set("page", String(next.page));
    if (next.pageSize) p.set("pageSize", next.pageSize);
    history.pushState(null, "", "/" + (p.toString() ? "?" + p : ""));
    route();
  };
  const q = new URLSearchParams({ status: query.status, prefix: query.prefix, page: String(query.page) });
  if (query.pageSize) q.set("pageSize", query.pageSize);
  const mine = generation;
  const data = await api("/api/instances?" + q);
  // Another filter, page or search was chosen while this read was in flight: its list wins.
  if (mine !== generation) return;
  document.title = "Instances · duroxide dashboard";

  const chips = h(
    "div",
    { class: "chips", id: "status-filter" },
    h("button", { class: "chip" + (query.status === "" ? " active" : ""), "data-filter": "", onclick: () => go({ status: "" }) }, "All", h("span", { class: "n" }, data.counts.all)),
    STATUSES.map((s) =>
      h("button", { class: "chip" + (query.status === s ? " active" : ""), "data-filter": s, onclick: () => go({ status: s }) }, s, h("span", { class: "n", "data-count": s }, data.counts[s])),
    ),
  );
  const search = h("input", { type: "text", id: "prefix", placeholder: "instance id prefix", value: query.prefix, size: 32 });
  search.addEventListener("keydown", (e) => {
    if (e.key === "Enter") go({ prefix: search.value });
  });
  const queues = h(
    "div",
    { class: "queues muted", id: "queues" },
    "Queue depths: orchestrator ",
    h("b", { "data-queue": "orchestrator" }, data.queues.orchestrator_queue),
    " · worker ",
    h("b", { "data-queue": "worker" }, data.queues.worker_queue),
  );

  const rows = data.items.map((i) =>
    h(
      "tr",
      { "data-instance": i.instanceId },
      h("td", { class: "id" }, h("a", { href: instanceHref(i.instanceId) }, i.instanceId)),
      h("td", {}, i.name, h("span", { class: "muted" }, " v" + i.version)),
      h("td", {}, badge(i.status)),
      h("td", {}, i.executionId),
      h("td", {}, i.parentInstanceId === null ? "—" : h("a", { href: instanceHref(i.parentInstanceId) }, i.parentInstanceId)),
      h("td", {}, time(i.createdAt)),
      h("td", {}, time(i.updatedAt)),
    ),
  );
  const table = h(
    "table",
    { id: "instances" },
    h("thead", {}, h("tr", {}, ["Instance", "Orchestration", "Status", "Exec", "Parent", "Created", "Updated"].map((t) => h("th", {}, t)))),
    h("tbody", {}, rows.length ? rows : h("tr", {}, h("td", { colspan: 7, class: "muted" }, "No instances match."))),
  );
  const pager = h(
    "div",
    { class: "row pager", id: "pager" },
    h("button", { disabled: query.page <= 0, onclick: () => go({ page: query.page - 1 }), "data-page": "prev" }, "‹ Previous"),
    h("span", { class: "muted" }, `Page ${query.page + 1} of ${data.pageCount} · ${data.total} instance${data.total === 1 ? "" : "s"}`),
    h("button", { disabled: query.page + 1 >= data.pageCount, onclick: () => go({ page: query.page + 1 }), "data-page": "next" }, "Next ›"),
  );
  main.replaceChildren(
    h("h1", {}, "Instances"),
    h("div", { class: "card" }, h("div", { class: "row" }, chips), h("div", { class: "row", style: null }, search, h("button", { onclick: () => go({ prefix: search.value }) }, "Search"), h("button", { onclick: () => route() }, "Refresh")), queues),
    table,
    pager,
  );
}

// ------------------------------------------------------------------ instance page

async function renderInstance() {
  const params = new URLSearchParams(location.search);
  const id = params.get("id");
  if (!id) {
    main.replaceChildren(h("p", { class: "error-text" }, "No instance id in the address (/instance?id=...)."));
    return;
  }
  const execution = params.get("execution");
  const details = h("div", { id: "details" }, h("p", { class: "muted" }, "Loading…"));
  main.replaceChildren(
    h("p", {}, h("a", { href: "/" }, "‹ All instances")),
    h("h1", { id: "instance-id" }, id),
    config.readOnly ? h("p", { class: "muted" }, "Read-only: actions are disabled.") : actionsCard(id),
    details,
  );
  const mine = generation;
  const load = async () => {
    refreshTimer = null;
    const view = await api("/api/instance?id=" + encodeURIComponent(id) + (execution ? "&execution=" + encodeURIComponent(execution) : ""));
    if (mine !== generation) return;
    document.title = id + " · duroxide dashboard";
    details.replaceChildren(...instanceDetails(view));
    // Live refresh: re-read a running instance while its latest execution is shown.
    if (view.status.status === "Running" && view.executionId === view.currentExecutionId) {
      refreshTimer = setTimeout(() => load().catch((e) => showNotice(e.message, true)), config.refreshMs);
    }
  };
  await load();
}

function actionsCard(id) {
  const eventName = h("input", { type: "text", id: "event-name", placeholder: "event name", size: 20 });
  const eventData = h("textarea", { id: "event-data", placeholder: "event data as JSON, e.g. {\"approved\": true}" });
  const reason = h("input", { type: "text", id: "cancel-reason", placeholder: "reason (optional)", size: 30 });
  const force = h("input", { type: "checkbox", id: "delete-force" });
  const run = async (question, okLabel, action, body, after) => {
    if (!(await confirmAction(question, okLabel))) return;
    try {
      const answer = await act(action, body());
      showNotice(answer.message, false);
      await after();
    } catch (e) {
      showNotice(e.message, true);
    }
  };
  const raise = () => {
    let data = null;
    const text = eventData.value.trim();
    if (text !== "") {
      try {
        data = JSON.parse(text);
      } catch (e) {
        showNotice("Event data is not valid JSON: " + e.message, true);
        return;
      }
    }
    if (eventName.value.trim() === "") {
      showNotice("Give the event a name.", true);
      return;
    }
    run(`Raise event "${eventName.value}" on instance ${id}?`, "Raise event", "raise-event", () => ({ instanceId: id, eventName: eventName.value, data }), () => route());
  };
  return h(
    "div",
    { class: "card actions", id: "actions" },
    h("div", { class: "action" }, h("div", { class: "row" }, h("b", {}, "Raise event"), eventName, h("button", { id: "raise-button", onclick: raise }, "Raise…")), eventData),
    h(
      "div",
      { class: "action row" },
      h("b", {}, "Cancel"),
      reason,
      h("button", { id: "cancel-button", class: "danger", onclick: () => run(`Cancel instance ${id}?`, "Cancel instance", "cancel", () => (reason.value ? { instanceId: id, reason: reason.value } : { instanceId: id }), () => route()) }, "Cancel…"),
    ),
    h(
      "div",
      { class: "action row" },
      h("b", {}, "Delete"),
      h("label", {}, force, " force (also a running instance and its children)"),
      h(
        "button",
        {
          id: "delete-button",
          class: "danger",
          onclick: () =>
            run(`Delete instance ${id} and all its children${force.checked ? ", even if running" : ""}? This cannot be undone.`, "Delete", "delete", () => ({ instanceId: id, force: force.checked }), () => {
              history.pushState(null, "", "/");
              return route();
            }),
        },
        "Delete…",
      ),
    ),
  );
}

function instanceDetails(v) {
  const s = v.status;
  const outcome =
    s.status === "Completed"
      ? h("div", { class: "card" }, h("h2", {}, "Output"), h("pre", { id: "output" }, pretty(s.output)))
      : s.status === "Failed"
        ? h("div", { class: "card" }, h("h2", { class: "error-text" }, "Error"), h("pre", { id: "error", class: "error-text" }, s.message), h("details", {}, h("summary", {}, "details"), h("pre", {}, pretty(s.details))))
        : s.message
          ? h("div", { class: "card" }, h("h2", {}, "Waiting"), h("pre", { id: "waiting" }, s.message))
          : null;
  const kvKeys = Object.keys(v.kv);
  return [
    h(
      "div",
      { class: "grid" },
      h(
        "div",
        { class: "card" },
        h("div", { class: "row" }, h("span", { id: "status" }, badge(s.status)), h("span", {}, v.name), h("span", { class: "muted" }, "v" + v.version)),
        h("p", { class: "muted" }, "Created ", time(v.createdAt), h("br"), "Updated ", time(v.updatedAt), h("br"), `Execution ${v.executionId} of ${v.currentExecutionId}`),
        h("h2", {}, "Custom status"),
        h("pre", { id: "custom-status" }, s.customStatus === null || s.customStatus === undefined ? "—" : s.customStatus),
      ),
      h("div", { class: "card" }, h("h2", {}, "Input"), h("pre", { id: "input" }, jsonText(v.input))),
      outcome,
    ),
    h("h2", {}, "Timeline"),
    timelineView(v),
    h(
      "div",
      { class: "grid" },
      h(
        "div",
        { class: "card" },
        h("h2", {}, "KV values"),
        kvKeys.length
          ? h("table", { class: "kv", id: "kv" }, h("tbody", {}, kvKeys.map((k) => h("tr", {}, h("td", {}, k), h("td", {}, h("pre", {}, pretty(v.kv[k])))))))
          : h("p", { class: "muted" }, "none"),
      ),
      h(
        "div",
        { class: "card" },
        h("h2", {}, "Executions"),
        h(
          "table",
          { id: "executions" },
          h("tbody", {}, v.executions.map((e) =>
            h("tr", {}, h("td", {}, e.execution_id === v.executionId ? h("b", {}, "#" + e.execution_id) : h("a", { href: instanceHref(v.instanceId, e.execution_id) }, "#" + e.execution_id)), h("td", {}, badge(e.status)), h("td", {}, e.event_count + " events"), h("td", { class: "muted" }, time(e.started_at))),
          )),
        ),
      ),
      h(
        "div",
        { class: "card" },
        h("h2", {}, "Family"),
        v.family.parentInstanceId === null ? h("p", { class: "muted" }, "Root instance") : h("p", {}, "Parent: ", h("a", { id: "parent-link", href: instanceHref(v.family.parentInstanceId) }, v.family.parentInstanceId)),
        h("ul", { class: "tree", id: "tree" }, treeNode(v.family.root, v.instanceId)),
        v.family.omitted > 0 ? h("p", { class: "muted" }, `${v.family.omitted} more not shown`) : null,
      ),
    ),
    h("h2", {}, "History"),
    historyTable(v),
  ];
}

function treeNode(node, currentId) {
  const label = node.instanceId === currentId ? h("span", { class: "current" }, node.instanceId) : h("a", { href: instanceHref(node.instanceId) }, node.instanceId);
  return h("li", { "data-node": node.instanceId }, label, " ", h("span", { class: "muted" }, node.name), " ", badge(node.status), node.children.length ? h("ul", {}, node.children.map((c) => treeNode(c, currentId))) : null);
}

function timelineView(v) {
  const t = v.timeline;
  const span = Math.max(t.endMs - t.startMs, 1);
  const pos = (ms) => ((ms - t.startMs) / span) * 100;
  const rows = t.bars.slice(0, 500).map((b) => {
    const bar = h("div", {
      class: `bar kind-${b.kind} state-${b.state}`,
      "data-kind": b.kind,
      "data-state": b.state,
      title: `${b.label}: ${b.state}, ${duration(b.endMs - b.startMs)}${b.message ? " — " + b.message : ""}`,
    });
    bar.style.left = pos(b.startMs) + "%";
    bar.style.width = Math.max(pos(b.endMs) - pos(b.startMs), 0.4) + "%";
    const label = b.childInstanceId ? h("a", { href: instanceHref(b.childInstanceId) }, b.label) : b.label;
    return h("div", { class: "tl-row" }, h("div", { class: "tl-label", title: b.label }, label), h("div", { class: "tl-track" }, bar));
  });
  const marks = h("div", { class: "tl-track tl-marks" }, t.marks.map((m) => {
    const mark = h("div", { class: "mark" + (m.failed ? " failed" : ""), "data-type": m.type, title: `#${m.eventId} ${m.label}` });
    mark.style.left = pos(m.atMs) + "%";
    return mark;
  }));
  return h(
    "div",
    { class: "timeline", id: "timeline" },
    h("div", { class: "tl-axis" }, h("div", { class: "muted" }, duration(t.endMs - t.startMs)), h("div", { class: "scale" }, h("span", {}, time(t.startMs)), h("span", {}, "+" + duration(t.endMs - t.startMs)))),
    h("div", { class: "tl-row" }, h("div", { class: "tl-label muted" }, "events"), marks),
    rows,
    t.bars.length > 500 ? h("p", { class: "muted" }, `${t.bars.length - 500} more bars not shown`) : null,
    h(
      "div",
      { class: "legend" },
      [["l-activity", "activity"], ["l-timer", "timer"], ["l-sub", "sub-orchestration"], ["l-wait", "waiting for an event"], ["l-pending", "pending"], ["l-failed", "failed"], ["l-mark", "event"]].map(([c, l]) => h("span", {}, h("i", { class: c }), l)),
    ),
  );
}

/** One line about an event's payload: the fields that matter for its type. */
function eventSummary(e) {
  const parts = [];
  for (const k of ["name", "instance", "key", "reason", "status"]) if (typeof e[k] === "string") parts.push(`${k}: ${e[k]}`);
  for (const k of ["input", "result", "output", "data", "value"]) if (typeof e[k] === "string") parts.push(`${k}: ${e[k].length > 300 ? e[k].slice(0, 300) + "…" : e[k]}`);
  if (e.details) parts.push(`error: ${e.details.message ?? e.details.type}`);
  if (typeof e.fire_at_ms === "number") parts.push(`fires at ${time(e.fire_at_ms)}`);
  if (e.source_event_id !== null && e.source_event_id !== undefined) parts.push(`for #${e.source_event_id}`);
  return parts.join(" · ");
}

function historyTable(v) {
  const t0 = v.history.length ? v.history[0].timestamp_ms : 0;
  const shown = v.history.slice(0, 1000);
  return h(
    "div",
    {},
    h(
      "table",
      { id: "history" },
      h("thead", {}, h("tr", {}, ["#", "+time", "event", ""].map((x) => h("th", {}, x)))),
      h("tbody", {}, shown.map((e) =>
        h("tr", { class: /Failed$/.test(e.type) ? "failed" : null, "data-event": e.type }, h("td", {}, e.event_id), h("td", { class: "muted" }, "+" + duration(e.timestamp_ms - t0)), h("td", {}, e.type), h("td", {}, h("pre", {}, eventSummary(e)))),
      )),
    ),
    v.history.length > shown.length ? h("p", { class: "muted" }, `${v.history.length - shown.length} more events not shown`) : null,
  );
}

// ------------------------------------------------------------------ routing

async function route() {
  generation++;
  if (refreshTimer !== null) clearTimeout(refreshTimer);
  refreshTimer = null;
  try {
    if (location.pathname === "/instance") await renderInstance();
    else await renderList();
  } catch (e) {
    showNotice(e.message, true);
  }
}

window.addEventListener("popstate", () => {
  clearNotice();
  route();
});

(async () => {
  try {
    config = await api("/api/config");
  } catch (e) {
    showNotice(e.message, true);
    return;
  }
  document.getElementById("mode").textContent = config.readOnly ? "read-only" : "";
  await route();
})();
