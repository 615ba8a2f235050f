/**
 * The SQLite schema (docs/provider-contract.md §14.1), with integer-ms times everywhere,
 * plus two additions: `orchestrator_queue.kind` (the work item type, so fetch can decide whether a
 * batch is resolvable without decoding it) and `dead_letters` (rows that cannot be decoded are
 * moved there instead of wedging the head of a queue).
 */
export const SCHEMA_VERSION = 1;
// Write-path notes: queue ids are plain rowids (no AUTOINCREMENT bookkeeping on every insert),
// nullable lookup columns have partial indexes, and keyed tables are WITHOUT ROWID so a write
// touches one B-tree instead of two. Each of these cut WAL pages per commit (scripts/bench_provider.ts).

export const SCHEMA_SQL = `
CREATE TABLE IF NOT EXISTS instances (
  instance_id TEXT PRIMARY KEY,
  orchestration_name TEXT NOT NULL,
  orchestration_version TEXT,
  current_execution_id INTEGER NOT NULL DEFAULT 1,
  parent_instance_id TEXT,
  custom_status TEXT,
  custom_status_version INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_instances_parent ON instances(parent_instance_id);

CREATE TABLE IF NOT EXISTS executions (
  instance_id TEXT NOT NULL,
  execution_id INTEGER NOT NULL,
  status TEXT NOT NULL DEFAULT 'Running',
  output TEXT,
  started_at INTEGER NOT NULL,
  completed_at INTEGER,
  duroxide_version_major INTEGER,
  duroxide_version_minor INTEGER,
  duroxide_version_patch INTEGER,
  PRIMARY KEY (instance_id, execution_id)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS history (
  instance_id TEXT NOT NULL,
  execution_id INTEGER NOT NULL,
  event_id INTEGER NOT NULL,
  event_type TEXT NOT NULL,
  event_data TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (instance_id, execution_id, event_id)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS orchestrator_queue (
  id INTEGER PRIMARY KEY,
  instance_id TEXT NOT NULL,
  kind TEXT NOT NULL,
  work_item TEXT NOT NULL,
  visible_at INTEGER NOT NULL,
  lock_token TEXT,
  attempt_count INTEGER NOT NULL DEFAULT 0 CHECK (attempt_count >= 0),
  created_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_orch_visible ON orchestrator_queue(visible_at, id);
CREATE INDEX IF NOT EXISTS idx_orch_instance ON orchestrator_queue(instance_id, visible_at);
CREATE INDEX IF NOT EXISTS idx_orch_lock ON orchestrator_queue(lock_token) WHERE lock_token IS NOT NULL;

CREATE TABLE IF NOT EXISTS worker_queue (
  id INTEGER PRIMARY KEY,
  work_item TEXT NOT NULL,
  visible_at INTEGER NOT NULL DEFAULT 0,
  lock_token TEXT,
  locked_until INTEGER,
  attempt_count INTEGER NOT NULL DEFAULT 0 CHECK (attempt_count >= 0),
  created_at INTEGER NOT NULL,
  instance_id TEXT,
  execution_id INTEGER,
  activity_id INTEGER,
  session_id TEXT,
  tag TEXT
);
CREATE INDEX IF NOT EXISTS idx_worker_visible ON worker_queue(visible_at, id);
CREATE UNIQUE INDEX IF NOT EXISTS idx_worker_lock ON worker_queue(lock_token) WHERE lock_token IS NOT NULL;
CREATE INDEX IF NOT EXISTS idx_worker_identity ON worker_queue(instance_id, execution_id, activity_id);
CREATE INDEX IF NOT EXISTS idx_worker_queue_session ON worker_queue(session_id) WHERE session_id IS NOT NULL;

CREATE TABLE IF NOT EXISTS instance_locks (
  instance_id TEXT PRIMARY KEY,
  lock_token TEXT NOT NULL,
  locked_until INTEGER NOT NULL,
  locked_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS idx_instance_locks_token ON instance_locks(lock_token);

CREATE TABLE IF NOT EXISTS sessions (
  session_id TEXT PRIMARY KEY,
  worker_id TEXT NOT NULL,
  locked_until INTEGER NOT NULL,
  last_activity_at INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS kv_store (
  instance_id TEXT NOT NULL,
  key TEXT NOT NULL,
  value TEXT NOT NULL,
  last_updated_at_ms INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (instance_id, key)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS kv_delta (
  instance_id TEXT NOT NULL,
  key TEXT NOT NULL,
  value TEXT,
  last_updated_at_ms INTEGER NOT NULL,
  PRIMARY KEY (instance_id, key)
);

CREATE TABLE IF NOT EXISTS dead_letters (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  queue TEXT NOT NULL,
  instance_id TEXT,
  work_item TEXT NOT NULL,
  error TEXT NOT NULL,
  created_at INTEGER NOT NULL
);
`;
