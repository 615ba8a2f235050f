/**
 * The instance list: a status filter, an id-prefix search, paging, the count of instances per
 * status and the queue depths, all read through `Client` management calls
 * (docs/runtime-semantics.md §4.4).
 *
 * The provider contract has no paged or prefix listing (only `listInstances` and
 * `listInstancesByStatus`, every id at once), so the server pages over the listed ids: it filters
 * them by prefix, slices one page, and reads `getInstanceInfo` only for that page. The ids keep
 * the provider's order (newest first in the bundled providers).
 */
import type { Client } from "../client.ts";
import type { InstanceInfo, QueueDepths } from "../core/admin-types.ts";
import { ClientError } from "../core/errors.ts";
import { EXECUTION_STATUSES, isExecutionStatus, type ExecutionStatus } from "../core/status.ts";
import { DashboardRequestError } from "./http-responses.ts";

export const DEFAULT_PAGE_SIZE = 25;
export const MAX_PAGE_SIZE = 500;
const MAX_PREFIX_LENGTH = 1024;

export interface ListQuery {
  status: ExecutionStatus | null;
  prefix: string;
  page: number;
  pageSize: number;
}

export interface ListedInstance {
  instanceId: string;
  name: string;
  version: string;
  status: string;
  executionId: number;
  createdAt: number;
  updatedAt: number;
  parentInstanceId: string | null;
}

export interface InstanceListPage {
  query: ListQuery;
  items: ListedInstance[];
  /** Instances matching the filter and the prefix, over all pages. */
  total: number;
  pageCount: number;
  /** Instances per status over the whole store (the filter chips), plus `all`. */
  counts: Record<ExecutionStatus | "all", number>;
  queues: QueueDepths;
}

/** Reads the list query from URL parameters; a bad value is a DashboardRequestError naming it. */
export function parseListQuery(params: URLSearchParams): ListQuery {
  const rawStatus = params.get("status") ?? "";
  if (rawStatus !== "" && !isExecutionStatus(rawStatus)) {
    throw new DashboardRequestError(`status must be one of ${EXECUTION_STATUSES.join(", ")} (or empty for all), got ${JSON.stringify(rawStatus)}`);
  }
  const prefix = params.get("prefix") ?? "";
  if (prefix.length > MAX_PREFIX_LENGTH) throw new DashboardRequestError(`prefix is ${prefix.length} characters, over ${MAX_PREFIX_LENGTH}`);
  return {
    status: rawStatus === "" ? null : (rawStatus as ExecutionStatus),
    prefix,
    page: intParam(params, "page", 0, Number.MAX_SAFE_INTEGER, 0),
    pageSize: intParam(params, "pageSize", 1, MAX_PAGE_SIZE, DEFAULT_PAGE_SIZE),
  };
}

function intParam(params: URLSearchParams, name: string, min: number, max: number, dflt: number): number {
  const raw = params.get(name);
  if (raw === null || raw === "") return dflt;
  const n = /^\d+$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) throw new DashboardRequestError(`${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(raw)}`);
  return n;
}

/** One page of instances plus the counts and queue depths shown above the list. */
export async function listInstancePage(client: Client, query: ListQuery): Promise<InstanceListPage> {
  const [all, queues, ...byStatus] = await Promise.all([
    client.listAllInstances(),
    client.getQueueDepths(),
    ...EXECUTION_STATUSES.map((s) => client.listInstancesByStatus(s)),
  ]);
  const counts = { all: all.length } as InstanceListPage["counts"];
  EXECUTION_STATUSES.forEach((s, i) => (counts[s] = byStatus[i]!.length));
  const source = query.status === null ? all : byStatus[EXECUTION_STATUSES.indexOf(query.status)]!;
  const matching = query.prefix === "" ? source : source.filter((id) => id.startsWith(query.prefix));
  const pageIds = matching.slice(query.page * query.pageSize, (query.page + 1) * query.pageSize);
  const infos = await Promise.all(pageIds.map((id) => infoOrNull(client, id)));
  return {
    query,
    items: infos.filter((i): i is InstanceInfo => i !== null).map(toListed),
    total: matching.length,
    pageCount: Math.max(1, Math.ceil(matching.length / query.pageSize)),
    counts,
    queues,
  };
}

/** An instance deleted between the listing and this read is left out rather than failing the page. */
export async function infoOrNull(client: Client, id: string): Promise<InstanceInfo | null> {
  try {
    return await client.getInstanceInfo(id);
  } catch (err) {
    if (err instanceof ClientError && err.code === "InstanceNotFound") return null;
    throw err;
  }
}

function toListed(i: InstanceInfo): ListedInstance {
  return {
    instanceId: i.instance_id,
    name: i.orchestration_name,
    version: i.orchestration_version,
    status: i.status,
    executionId: i.current_execution_id,
    createdAt: i.created_at,
    updatedAt: i.updated_at,
    parentInstanceId: i.parent_instance_id,
  };
}
