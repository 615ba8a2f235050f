/**
 * The family of an instance: its root (found by following parent links up) and every descendant,
 * nested by parent. `getInstanceTree` gives the ids of a tree but not its shape, so each node's
 * parent comes from its `getInstanceInfo` (docs/runtime-semantics.md §4.4). Bounded: a huge fan-out
 * shows its first MAX_TREE_NODES nodes and says how many were left out.
 */
import type { Client } from "../client.ts";
import type { InstanceInfo } from "../core/admin-types.ts";
import { infoOrNull } from "./instance-list.ts";

export const MAX_TREE_NODES = 200;
const MAX_DEPTH = 100;

export interface TreeNode {
  instanceId: string;
  name: string;
  status: string;
  children: TreeNode[];
}

export interface InstanceFamily {
  parentInstanceId: string | null;
  root: TreeNode;
  /** Descendants not shown because the tree is larger than MAX_TREE_NODES. */
  omitted: number;
}

export async function readInstanceFamily(client: Client, info: InstanceInfo): Promise<InstanceFamily> {
  let root = info;
  for (let depth = 0; root.parent_instance_id !== null && depth < MAX_DEPTH; depth++) {
    const parent = await infoOrNull(client, root.parent_instance_id);
    if (parent === null) break; // the parent was deleted (a forced delete of a subtree's root)
    root = parent;
  }
  const ids = (await client.getInstanceTree(root.instance_id)).all_ids;
  const shown = ids.slice(0, MAX_TREE_NODES);
  const infos = (await Promise.all(shown.map((id) => (id === root.instance_id ? root : infoOrNull(client, id))))).filter(
    (i): i is InstanceInfo => i !== null,
  );
  const nodes = new Map<string, TreeNode>(infos.map((i) => [i.instance_id, { instanceId: i.instance_id, name: i.orchestration_name, status: i.status, children: [] }]));
  for (const i of infos) {
    if (i.instance_id === root.instance_id || i.parent_instance_id === null) continue;
    nodes.get(i.parent_instance_id)?.children.push(nodes.get(i.instance_id)!);
  }
  return { parentInstanceId: info.parent_instance_id, root: nodes.get(root.instance_id)!, omitted: ids.length - shown.length };
}
