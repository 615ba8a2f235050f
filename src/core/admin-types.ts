/** Result and filter shapes of the optional management capability (ProviderAdmin). */

export interface InstanceInfo {
  instance_id: string;
  orchestration_name: string;
  orchestration_version: string;
  current_execution_id: number;
  /** The current execution's status. */
  status: string;
  output: string | null;
  created_at: number;
  updated_at: number;
  parent_instance_id: string | null;
  /**
   * The instance's custom status and its version, as getCustomStatus reports them (null / 0 when
   * never set). Optional: a provider that includes them saves a status reader the second query.
   */
  custom_status?: string | null;
  custom_status_version?: number;
}

export interface ExecutionInfo {
  execution_id: number;
  status: string;
  output: string | null;
  started_at: number;
  completed_at: number | null;
  event_count: number;
}

export interface SystemMetrics {
  total_instances: number;
  total_executions: number;
  running_instances: number;
  completed_instances: number;
  failed_instances: number;
  total_events: number;
}

export interface QueueDepths {
  orchestrator_queue: number;
  worker_queue: number;
  /** Always 0: timers ride the orchestrator queue. */
  timer_queue: number;
}

export interface InstanceFilter {
  instance_ids?: string[] | null;
  completed_before?: number | null;
  /**
   * At most this many instances, oldest first. Default: every id of `instance_ids` when given,
   * else 1000 (docs/provider-contract.md §7.4).
   */
  limit?: number | null;
}

export interface PruneOptions {
  keep_last?: number | null;
  completed_before?: number | null;
}

export interface DeleteInstanceResult {
  instances_deleted: number;
  executions_deleted: number;
  events_deleted: number;
  queue_messages_deleted: number;
}

export interface PruneResult {
  instances_processed: number;
  executions_deleted: number;
  events_deleted: number;
}

export interface InstanceTree {
  root_id: string;
  /** Includes the root. */
  all_ids: string[];
}
