/**
 * Every fixed statement of the provider, prepared once when it opens (the hot paths then only
 * bind and step). Worker-queue picks depend on the fetch's tag filter and are prepared on first
 * use instead (worker-fetch.ts).
 */
import type { Database } from "bun:sqlite";

export type Statements = ReturnType<typeof prepareStatements>;

export interface OrchRow {
  id: number;
  kind: string;
  work_item: string;
  attempt_count: number;
}

export function prepareStatements(db: Database) {
  return {
    insertOrch: db.prepare<never, [string, string, string, number, number]>(
      "INSERT INTO orchestrator_queue (instance_id, kind, work_item, visible_at, created_at) VALUES (?, ?, ?, ?, ?)",
    ),
    // Oldest visible message first: ordered by (visible_at, id) so the pick walks an index and stops
    // at the first eligible row instead of sorting every visible message (FIFO by becoming visible).
    // ?2 = 0: no capability filter. Otherwise the current execution's pinned version must be NULL or
    // inside [?3.?4.?5, ?6.?7.?8], compared as tuples, not packed integers
    // (docs/provider-contract.md Q7).
    pickCandidate: db.prepare<{ instance_id: string }, [number, number, number, number, number, number, number, number]>(
      `SELECT m.instance_id FROM orchestrator_queue AS m
         LEFT JOIN instance_locks AS lk ON lk.instance_id = m.instance_id
         LEFT JOIN instances AS i ON ?2 = 1 AND i.instance_id = m.instance_id
         LEFT JOIN executions AS e ON ?2 = 1 AND e.instance_id = m.instance_id AND e.execution_id = i.current_execution_id
        WHERE m.visible_at <= ?1 AND (lk.locked_until IS NULL OR lk.locked_until <= ?1)
          AND (?2 = 0 OR e.duroxide_version_major IS NULL OR (
               (e.duroxide_version_major, e.duroxide_version_minor, e.duroxide_version_patch) >= (?3, ?4, ?5)
           AND (e.duroxide_version_major, e.duroxide_version_minor, e.duroxide_version_patch) <= (?6, ?7, ?8)))
        ORDER BY m.visible_at, m.id LIMIT 1`,
    ),
    nextOrchVisible: db.prepare<{ t: number | null }, [number]>("SELECT MIN(visible_at) AS t FROM orchestrator_queue WHERE visible_at > ?"),
    nextWorkerVisible: db.prepare<{ t: number | null }, [number]>("SELECT MIN(visible_at) AS t FROM worker_queue WHERE visible_at > ?"),
    deferOrphans: db.prepare<never, [number, number, string, number]>(
      `UPDATE orchestrator_queue SET visible_at = ?1 + min(max(?2 - created_at, 1000), 60000)
        WHERE instance_id = ?3 AND visible_at <= ?4`,
    ),
    instanceRow: db.prepare<{ orchestration_name: string; orchestration_version: string | null; current_execution_id: number }, [string]>(
      "SELECT orchestration_name, orchestration_version, current_execution_id FROM instances WHERE instance_id = ?",
    ),
    maxExecution: db.prepare<{ m: number | null }, [string]>("SELECT MAX(execution_id) AS m FROM executions WHERE instance_id = ?"),
    // Existence probes: a LIMIT 1 seek costs a fraction of an aggregate or ordered read that finds nothing.
    anyExecution: db.prepare<{ one: number }, [string]>("SELECT 1 AS one FROM executions WHERE instance_id = ? LIMIT 1"),
    anyHistory: db.prepare<{ one: number }, [string, number]>("SELECT 1 AS one FROM history WHERE instance_id = ? AND execution_id = ? LIMIT 1"),
    startedEvent: db.prepare<{ event_data: string }, [string, number]>(
      "SELECT event_data FROM history WHERE instance_id = ? AND execution_id = ? AND event_type = 'OrchestrationStarted' ORDER BY event_id LIMIT 1",
    ),
    claimLock: db.prepare<never, [string, string, number, number, string, number, number, number]>(
      `INSERT INTO instance_locks (instance_id, lock_token, locked_until, locked_at) VALUES (?, ?, ?, ?)
       ON CONFLICT (instance_id) DO UPDATE SET lock_token = ?, locked_until = ?, locked_at = ?
       WHERE instance_locks.locked_until <= ?`,
    ),
    tagBatch: db.prepare<OrchRow, [string, string, number]>(
      `UPDATE orchestrator_queue SET lock_token = ?, attempt_count = attempt_count + 1 WHERE instance_id = ? AND visible_at <= ?
       RETURNING id, kind, work_item, attempt_count`,
    ),
    untagUndoAttempt: db.prepare<never, [string]>(
      "UPDATE orchestrator_queue SET lock_token = NULL, attempt_count = max(attempt_count - 1, 0) WHERE lock_token = ?",
    ),
    untagBatch: db.prepare<never, [string]>("UPDATE orchestrator_queue SET lock_token = NULL WHERE lock_token = ?"),
    deleteOrchRow: db.prepare<never, [number]>("DELETE FROM orchestrator_queue WHERE id = ?"),
    deleteBatch: db.prepare<never, [string]>("DELETE FROM orchestrator_queue WHERE lock_token = ?"),
    deadLetter: db.prepare<never, [string, string | null, string, string, number]>(
      "INSERT INTO dead_letters (queue, instance_id, work_item, error, created_at) VALUES (?, ?, ?, ?, ?)",
    ),
    releaseLock: db.prepare<never, [string, string]>("DELETE FROM instance_locks WHERE instance_id = ? AND lock_token = ?"),
    // The ends' ids and texts (the texts carry each event's timestamp, so an execution deleted and
    // started again with the same ids still differs): four seeks on the primary key. A COUNT, or
    // MIN and MAX in one aggregate, would walk every row of the execution: quadratic over a
    // long-running instance.
    historyShape: db.prepare<{ min: number | null; min_data: string | null; max: number | null; max_data: string | null }, [string, number]>(
      `SELECT (SELECT event_id FROM history WHERE instance_id = ?1 AND execution_id = ?2 ORDER BY event_id LIMIT 1) AS min,
              (SELECT event_data FROM history WHERE instance_id = ?1 AND execution_id = ?2 ORDER BY event_id LIMIT 1) AS min_data,
              (SELECT event_id FROM history WHERE instance_id = ?1 AND execution_id = ?2 ORDER BY event_id DESC LIMIT 1) AS max,
              (SELECT event_data FROM history WHERE instance_id = ?1 AND execution_id = ?2 ORDER BY event_id DESC LIMIT 1) AS max_data`,
    ),
    // Changes whenever another connection commits; our own commits leave it alone.
    dataVersion: db.prepare<{ data_version: number }, []>("PRAGMA data_version"),
    historyAfter: db.prepare<{ event_data: string }, [string, number, number]>(
      "SELECT event_data FROM history WHERE instance_id = ? AND execution_id = ? AND event_id > ? ORDER BY event_id",
    ),
    historyRows: db.prepare<{ event_data: string }, [string, number]>(
      "SELECT event_data FROM history WHERE instance_id = ? AND execution_id = ? ORDER BY event_id",
    ),
    kvStoreRows: db.prepare<{ key: string; value: string; last_updated_at_ms: number }, [string]>(
      "SELECT key, value, last_updated_at_ms FROM kv_store WHERE instance_id = ?",
    ),
    kvDeltaRows: db.prepare<{ key: string; value: string | null }, [string]>("SELECT key, value FROM kv_delta WHERE instance_id = ? ORDER BY rowid"),
    kvDeltaGet: db.prepare<{ value: string | null }, [string, string]>("SELECT value FROM kv_delta WHERE instance_id = ? AND key = ?"),
    kvStoreGet: db.prepare<{ value: string }, [string, string]>("SELECT value FROM kv_store WHERE instance_id = ? AND key = ?"),
    lockByToken: db.prepare<{ instance_id: string; locked_until: number }, [string]>(
      "SELECT instance_id, locked_until FROM instance_locks WHERE lock_token = ?",
    ),
    createInstance: db.prepare<never, [string, string, string, number, string | null, number, number]>(
      `INSERT OR IGNORE INTO instances (instance_id, orchestration_name, orchestration_version, current_execution_id,
         parent_instance_id, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
    ),
    updateInstanceNameVersion: db.prepare<never, [string, string, number, string]>(
      `UPDATE instances SET orchestration_name = ?1, orchestration_version = ?2, updated_at = ?3
        WHERE instance_id = ?4 AND (orchestration_name IS NOT ?1 OR orchestration_version IS NOT ?2)`,
    ),
    createExecution: db.prepare<never, [string, number, number]>(
      "INSERT OR IGNORE INTO executions (instance_id, execution_id, status, started_at) VALUES (?, ?, 'Running', ?)",
    ),
    pinExecution: db.prepare<never, [number, number, number, string, number]>(
      `UPDATE executions SET duroxide_version_major = ?, duroxide_version_minor = ?, duroxide_version_patch = ?
        WHERE instance_id = ? AND execution_id = ?`,
    ),
    raiseCurrentExecution: db.prepare<never, [number, number, string]>(
      "UPDATE instances SET current_execution_id = ?1, updated_at = ?2 WHERE instance_id = ?3 AND current_execution_id < ?1",
    ),
    insertHistory: db.prepare<never, [string, number, number, string, string, number]>(
      "INSERT INTO history (instance_id, execution_id, event_id, event_type, event_data, created_at) VALUES (?, ?, ?, ?, ?, ?)",
    ),
    setExecutionStatus: db.prepare<never, [string, string | null, number | null, string, number]>(
      `UPDATE executions SET status = ?1, output = ?2, completed_at = coalesce(?3, completed_at)
        WHERE instance_id = ?4 AND execution_id = ?5 AND (status IS NOT ?1 OR output IS NOT ?2 OR ?3 IS NOT NULL)`,
    ),
    setCustomStatus: db.prepare<never, [string | null, number, string]>(
      "UPDATE instances SET custom_status = ?, custom_status_version = custom_status_version + 1, updated_at = ? WHERE instance_id = ?",
    ),
    kvDeltaSet: db.prepare<never, [string, string, string | null, number]>(
      `INSERT INTO kv_delta (instance_id, key, value, last_updated_at_ms) VALUES (?, ?, ?, ?)
       ON CONFLICT (instance_id, key) DO UPDATE SET value = excluded.value, last_updated_at_ms = excluded.last_updated_at_ms`,
    ),
    kvDeltaTombstoneAll: db.prepare<never, [number, string]>("UPDATE kv_delta SET value = NULL, last_updated_at_ms = ? WHERE instance_id = ?"),
    kvDeltaTombstoneCommitted: db.prepare<never, [string, number, string]>(
      `INSERT OR IGNORE INTO kv_delta (instance_id, key, value, last_updated_at_ms)
       SELECT ?, key, NULL, ? FROM kv_store WHERE instance_id = ?`,
    ),
    kvMergeUpsert: db.prepare<never, [string]>(
      `INSERT INTO kv_store (instance_id, key, value, last_updated_at_ms)
       SELECT instance_id, key, value, last_updated_at_ms FROM kv_delta WHERE instance_id = ? AND value IS NOT NULL
       ON CONFLICT (instance_id, key) DO UPDATE SET value = excluded.value, last_updated_at_ms = excluded.last_updated_at_ms`,
    ),
    kvMergeDelete: db.prepare<never, [string]>(
      `DELETE FROM kv_store WHERE instance_id = ?1
         AND key IN (SELECT key FROM kv_delta WHERE instance_id = ?1 AND value IS NULL)`,
    ),
    kvDeltaClear: db.prepare<never, [string]>("DELETE FROM kv_delta WHERE instance_id = ?"),
    kvDeltaAny: db.prepare<{ one: number }, [string]>("SELECT 1 AS one FROM kv_delta WHERE instance_id = ? LIMIT 1"),
    insertWorker: db.prepare<never, [string, number, number, string, number, number, string | null, string | null]>(
      `INSERT INTO worker_queue (work_item, visible_at, created_at, instance_id, execution_id, activity_id, session_id, tag)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    deleteWorkerByIdentity: db.prepare<never, [string, number, number]>(
      "DELETE FROM worker_queue WHERE instance_id = ? AND execution_id = ? AND activity_id = ?",
    ),
    decrementBatchAttempts: db.prepare<never, [string]>(
      "UPDATE orchestrator_queue SET attempt_count = max(attempt_count - 1, 0) WHERE lock_token = ?",
    ),
    delayVisible: db.prepare<never, [number, string, number]>(
      "UPDATE orchestrator_queue SET visible_at = ? WHERE instance_id = ? AND visible_at <= ?",
    ),
    renewLock: db.prepare<never, [number, string, number]>(
      "UPDATE instance_locks SET locked_until = ? WHERE lock_token = ? AND locked_until > ?",
    ),
    lockWorker: db.prepare<never, [string, number, number]>(
      "UPDATE worker_queue SET lock_token = ?, locked_until = ?, attempt_count = attempt_count + 1 WHERE id = ?",
    ),
    deleteWorkerRow: db.prepare<never, [number]>("DELETE FROM worker_queue WHERE id = ?"),
    claimSession: db.prepare<never, [string, string, number, number, string, number, number, number, string]>(
      `INSERT INTO sessions (session_id, worker_id, locked_until, last_activity_at) VALUES (?, ?, ?, ?)
       ON CONFLICT (session_id) DO UPDATE SET worker_id = ?, locked_until = ?, last_activity_at = ?
       WHERE sessions.locked_until <= ? OR sessions.worker_id = ?`,
    ),
    deleteLockedWorker: db.prepare<{ session_id: string | null }, [string, number]>(
      "DELETE FROM worker_queue WHERE lock_token = ? AND locked_until > ? RETURNING session_id",
    ),
    touchSession: db.prepare<never, [number, string, number]>(
      "UPDATE sessions SET last_activity_at = ? WHERE session_id = ? AND locked_until > ?",
    ),
    abandonWorker: db.prepare<never, [number, number, string]>(
      `UPDATE worker_queue SET lock_token = NULL, locked_until = NULL, visible_at = ?,
              attempt_count = CASE WHEN ? THEN max(attempt_count - 1, 0) ELSE attempt_count END
        WHERE lock_token = ?`,
    ),
    renewWorker: db.prepare<{ session_id: string | null }, [number, string, number]>(
      "UPDATE worker_queue SET locked_until = ? WHERE lock_token = ? AND locked_until > ? RETURNING session_id",
    ),
    renewSessions: db.prepare<never, [number, string, number, number]>(
      `UPDATE sessions SET locked_until = ?
        WHERE worker_id IN (SELECT value FROM json_each(?)) AND locked_until > ? AND last_activity_at > ?`,
    ),
    // Graceful shutdown hands sessions on at once (docs/provider-contract.md §5.3).
    releaseSessions: db.prepare<never, [number, string, number, string | null]>(
      `UPDATE sessions SET locked_until = ?
        WHERE worker_id IN (SELECT value FROM json_each(?)) AND locked_until > ?
          AND (?4 IS NULL OR session_id IN (SELECT value FROM json_each(?4)))`,
    ),
    cleanupSessions: db.prepare<never, [number]>(
      `DELETE FROM sessions WHERE locked_until <= ?
         AND session_id NOT IN (SELECT session_id FROM worker_queue WHERE session_id IS NOT NULL)`,
    ),
    customStatus: db.prepare<{ custom_status: string | null; custom_status_version: number }, [string, number]>(
      "SELECT custom_status, custom_status_version FROM instances WHERE instance_id = ? AND custom_status_version > ?",
    ),
  };
}
