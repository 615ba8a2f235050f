/**
 * The PostgreSQL schema, as numbered migrations (docs/provider-contract.md §16.2).
 *
 * Every object lives in the provider's schema: the migration text names it `__S__`, replaced by
 * the quoted schema name when applied, and the NOTIFY channel `__CH__`. Times are integer ms of
 * the database server's clock (`__S__.now_ms()`), never a process's own clock, so machines with
 * skewed clocks cannot steal each other's locks.
 *
 * Each hot-path provider call is one server-side function call: one round trip and one
 * transaction (an autocommit statement). Failures the provider must report with a kind are
 * raised with the project's own SQLSTATEs (class DX, see errors.ts), never recognised by text.
 */

export interface Migration {
  version: number;
  description: string;
  sql: string;
}

/** Tables and indexes: the same data model as the SQLite provider, times in server-clock ms. */
const TABLES = `
CREATE TABLE __S__.instances (
  instance_id TEXT PRIMARY KEY,
  orchestration_name TEXT NOT NULL,
  orchestration_version TEXT,
  current_execution_id BIGINT NOT NULL DEFAULT 1,
  parent_instance_id TEXT,
  custom_status TEXT,
  custom_status_version BIGINT NOT NULL DEFAULT 0,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL
);
CREATE INDEX idx_instances_parent ON __S__.instances(parent_instance_id) WHERE parent_instance_id IS NOT NULL;

CREATE TABLE __S__.executions (
  instance_id TEXT NOT NULL,
  execution_id BIGINT NOT NULL,
  status TEXT NOT NULL DEFAULT 'Running',
  output TEXT,
  started_at BIGINT NOT NULL,
  completed_at BIGINT,
  -- BIGINT: a version component may be any safe integer, as on SQLite (INTEGER stops at 2^31-1).
  duroxide_version_major BIGINT,
  duroxide_version_minor BIGINT,
  duroxide_version_patch BIGINT,
  PRIMARY KEY (instance_id, execution_id)
);
CREATE INDEX idx_executions_status ON __S__.executions(status);

CREATE TABLE __S__.history (
  instance_id TEXT NOT NULL,
  execution_id BIGINT NOT NULL,
  event_id BIGINT NOT NULL,
  event_type TEXT NOT NULL,
  event_data TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  PRIMARY KEY (instance_id, execution_id, event_id)
);

-- Queue rows are claimed by an UPDATE of columns no index covers (lock_token, locked_until,
-- attempt_count), with free space left in every page (fillfactor), so a claim is a HOT update:
-- no new index entries, no index bloat at the head of the queue. A worker row is found by the id
-- its lock token starts with, an orchestrator row by its instance; neither needs a token index.
CREATE TABLE __S__.orchestrator_queue (
  id BIGSERIAL PRIMARY KEY,
  instance_id TEXT NOT NULL,
  kind TEXT NOT NULL,
  work_item TEXT NOT NULL,
  visible_at BIGINT NOT NULL,
  lock_token TEXT,
  attempt_count INTEGER NOT NULL DEFAULT 0 CHECK (attempt_count >= 0),
  created_at BIGINT NOT NULL
) WITH (fillfactor = 70);
CREATE INDEX idx_orch_visible ON __S__.orchestrator_queue(visible_at, id);
CREATE INDEX idx_orch_instance ON __S__.orchestrator_queue(instance_id, visible_at);

CREATE TABLE __S__.worker_queue (
  id BIGSERIAL PRIMARY KEY,
  work_item TEXT NOT NULL,
  visible_at BIGINT NOT NULL,
  lock_token TEXT,
  locked_until BIGINT,
  attempt_count INTEGER NOT NULL DEFAULT 0 CHECK (attempt_count >= 0),
  created_at BIGINT NOT NULL,
  instance_id TEXT,
  execution_id BIGINT,
  activity_id BIGINT,
  session_id TEXT,
  tag TEXT
) WITH (fillfactor = 70);
CREATE INDEX idx_worker_visible ON __S__.worker_queue(visible_at, id);
CREATE INDEX idx_worker_identity ON __S__.worker_queue(instance_id, execution_id, activity_id);
CREATE INDEX idx_worker_session ON __S__.worker_queue(session_id) WHERE session_id IS NOT NULL;

CREATE TABLE __S__.instance_locks (
  instance_id TEXT PRIMARY KEY,
  lock_token TEXT NOT NULL,
  locked_until BIGINT NOT NULL,
  locked_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX idx_instance_locks_token ON __S__.instance_locks(lock_token);

CREATE TABLE __S__.sessions (
  session_id TEXT PRIMARY KEY,
  worker_id TEXT NOT NULL,
  locked_until BIGINT NOT NULL,
  last_activity_at BIGINT NOT NULL
);

CREATE TABLE __S__.kv_store (
  instance_id TEXT NOT NULL,
  key TEXT NOT NULL,
  value TEXT NOT NULL,
  last_updated_at_ms BIGINT NOT NULL DEFAULT 0,
  PRIMARY KEY (instance_id, key)
);

CREATE TABLE __S__.kv_delta (
  instance_id TEXT NOT NULL,
  key TEXT NOT NULL,
  value TEXT,
  last_updated_at_ms BIGINT NOT NULL,
  PRIMARY KEY (instance_id, key)
);

-- The queues and the lock table churn: vacuum them early and often so scans meet few dead rows.
ALTER TABLE __S__.orchestrator_queue SET (vacuum_truncate = false, autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 500, autovacuum_vacuum_cost_delay = 0, autovacuum_analyze_scale_factor = 0.05);
ALTER TABLE __S__.worker_queue SET (vacuum_truncate = false, autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 500, autovacuum_vacuum_cost_delay = 0, autovacuum_analyze_scale_factor = 0.05);
ALTER TABLE __S__.instance_locks SET (vacuum_truncate = false, autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 500, autovacuum_vacuum_cost_delay = 0);
ALTER TABLE __S__.sessions SET (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 500, autovacuum_vacuum_cost_delay = 0);

CREATE TABLE __S__.dead_letters (
  id BIGSERIAL PRIMARY KEY,
  queue TEXT NOT NULL,
  instance_id TEXT,
  work_item TEXT NOT NULL,
  error TEXT NOT NULL,
  created_at BIGINT NOT NULL
);
`;

/**
 * The hot-path functions. Error SQLSTATE DXL01: lock lost.
 *
 * Claims, renewals and abandons commit with synchronous_commit off: they decide who works on what
 * but record no result, so losing one in a server crash only makes an item available again, as
 * an expired lock would (delivery is at least once either way). Everything that records work
 * (enqueues, acks, history) commits durably.
 *
 * No function sends NOTIFY: a notifying transaction holds PostgreSQL's global notify lock from
 * before its commit until after its WAL flush, which serialises every committer's fsync. The
 * provider announces work after the commit instead, batched (see announcer.ts).
 *
 * Every function is CREATE OR REPLACE: a migration that changes any of them re-runs all of them
 * (see MIGRATIONS below).
 */

/**
 * The planner settings of every function that looks rows up in the queue and lock tables, as a
 * SET clause (in force while the function runs, restored when it returns). These tables churn:
 * every row is inserted, locked and deleted within seconds, so their statistics say "a few rows"
 * while their pages hold thousands of dead versions. Left alone the planner scans them: a lock
 * lookup by token scanned instance_locks (0.3 ms instead of 0.01), a queue pick scanned and sorted
 * every visible row (0.5 ms instead of 0.05). Disabling scans and sorts makes it walk the indexes.
 * Plans are generic (their shape never depends on the values), and JIT is off: with scans
 * disabled a plan that must scan costs 10^10, far past jit_above_cost, and would be compiled
 * (about 100 ms) on every call to save microseconds.
 */
const LOOKUP_SETTINGS =
  "SET enable_seqscan = off SET enable_bitmapscan = off SET enable_sort = off SET plan_cache_mode = force_generic_plan SET jit = off";

export const FUNCTIONS = `
-- Functions of version 1 that are gone.
DROP FUNCTION IF EXISTS __S__.claim_settings();
DROP FUNCTION IF EXISTS __S__.ack_work(TEXT, TEXT, TEXT, TEXT); -- replaced by ack_work_many
-- Version 3 to 7's fetch, replaced by the one with a skip list (version 8), which five-argument
-- calls reach through the list's default.
DROP FUNCTION IF EXISTS __S__.fetch_orch_tail(BIGINT, BOOLEAN, BIGINT[], BIGINT[], INTEGER);

CREATE OR REPLACE FUNCTION __S__.now_ms() RETURNS BIGINT LANGUAGE sql VOLATILE AS
$$ SELECT floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint $$;

-- The queue row id a worker lock token starts with; null for a token of any other shape (then no
-- row matches and the caller reports the lock as lost, never a cast error).
CREATE OR REPLACE FUNCTION __S__.token_row(p_token TEXT) RETURNS BIGINT LANGUAGE sql IMMUTABLE AS
$$ SELECT CASE WHEN p_token ~ '^[0-9]{1,18}[.]' THEN split_part(p_token, '.', 1)::bigint END $$;

-- Whether a worker fetch's tag filter admits an item tagged p_tag (null: untagged). p_mode:
-- 'default' (untagged only), 'tags' (one of p_tags), 'default_and' (untagged or one of p_tags),
-- 'any'. A plain SQL expression: the planner inlines it into the queries that use it.
CREATE OR REPLACE FUNCTION __S__.tag_admits(p_mode TEXT, p_tags TEXT[], p_tag TEXT) RETURNS BOOLEAN LANGUAGE sql IMMUTABLE AS
$$ SELECT CASE p_mode
            WHEN 'default' THEN p_tag IS NULL
            WHEN 'tags' THEN p_tag = ANY (p_tags)
            WHEN 'default_and' THEN p_tag IS NULL OR p_tag = ANY (p_tags)
            ELSE true END $$;

-- Whether a worker fetch may take worker row w now (p_now): visible, unlocked or its lock lapsed,
-- admitted by the tag filter, and no item of a session another owner holds (p_session: the fetch
-- has a session config for p_owner; without one it takes no session item). p_held and p_holder
-- are the row's session as held now (null when free). The one rule of every worker pick: a fetch
-- (fetch_work) and a claim ahead for the next fetches (claim_work_ahead) must agree on what a
-- fetch would take. Plain SQL: the planner inlines it, and the pick still walks idx_worker_visible.
CREATE OR REPLACE FUNCTION __S__.work_takable(
  p_visible_at BIGINT, p_lock_token TEXT, p_locked_until BIGINT, p_tag TEXT, p_session_id TEXT, p_held TEXT, p_holder TEXT,
  p_now BIGINT, p_tag_mode TEXT, p_tags TEXT[], p_session BOOLEAN, p_owner TEXT) RETURNS BOOLEAN LANGUAGE sql IMMUTABLE AS
$$ SELECT p_visible_at <= p_now AND (p_lock_token IS NULL OR p_locked_until <= p_now)
      AND __S__.tag_admits(p_tag_mode, p_tags, p_tag)
      AND (p_session_id IS NULL OR (p_session AND (p_held IS NULL OR p_holder = p_owner))) $$;

CREATE OR REPLACE FUNCTION __S__.enqueue_orch(p_instance TEXT, p_kind TEXT, p_item TEXT, p_delay_ms BIGINT) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE v_now BIGINT := __S__.now_ms();
BEGIN
  INSERT INTO __S__.orchestrator_queue (instance_id, kind, work_item, visible_at, created_at)
  VALUES (p_instance, p_kind, p_item, v_now + p_delay_ms, v_now);
END $$;

-- Locks the instance of the oldest visible message that no live lock holds (and that the
-- capability filter admits) and returns its batch, history and committed KV. A race lost to
-- another process (its claim in progress, or its lock) skips that instance and keeps looking.
-- Nothing found: only o_next_due_ms is set (ms until the next message becomes visible, or null).
-- Claims the next orchestrator batch. p_tail NULL returns the whole history of the execution;
-- otherwise at most its last p_tail events, with o_history_complete saying whether that is all of
-- it: a provider that holds the earlier events decoded (postgres/history-tail.ts) then reads only
-- what is new, and a turn of a long-running instance costs what is new, not the whole history
-- (docs/provider-contract.md §16.7). p_skip: instances the caller holds locks on (its turns in
-- progress), passed over without looking their locks up: at the head of a busy queue most messages
-- are for instances whose turn is running, and each lookup costs an index probe. A hint only:
-- when nothing else is found, their locks are looked up after all. Its default (NULL) keeps the
-- five-argument calls of the previous release working during a rolling deploy.
CREATE OR REPLACE FUNCTION __S__.fetch_orch_tail(
  p_lock_ms BIGINT, p_filtered BOOLEAN, p_min BIGINT[], p_max BIGINT[], p_tail INTEGER, p_skip TEXT[] DEFAULT NULL,
  OUT o_instance TEXT, OUT o_token TEXT, OUT o_execution_id BIGINT,
  OUT o_name TEXT, OUT o_version TEXT, OUT o_existed BOOLEAN,
  OUT o_messages TEXT[], OUT o_attempt INTEGER,
  OUT o_history TEXT[], OUT o_history_complete BOOLEAN, OUT o_started TEXT,
  OUT o_kv_keys TEXT[], OUT o_kv_values TEXT[], OUT o_kv_times BIGINT[],
  OUT o_next_due_ms BIGINT)
LANGUAGE plpgsql ${LOOKUP_SETTINGS} AS $$
DECLARE
  v_now BIGINT := __S__.now_ms();
  v_skip TEXT[] := coalesce(p_skip, '{}');
  v_unskipped BOOLEAN := false;
  v_cand TEXT;
  v_token TEXT;
  v_kinds TEXT[];
  v_has_start BOOLEAN;
  v_first BIGINT;
  v_count INTEGER;
BEGIN
  PERFORM set_config('synchronous_commit', 'off', true);
  LOOP
    SELECT m.instance_id INTO v_cand
      FROM __S__.orchestrator_queue AS m
      LEFT JOIN __S__.instance_locks AS lk ON lk.instance_id = m.instance_id
     WHERE m.visible_at <= v_now
       AND (lk.locked_until IS NULL OR lk.locked_until <= v_now)
       AND m.instance_id <> ALL (v_skip)
     ORDER BY m.visible_at, m.id
     LIMIT 1;
    IF NOT FOUND AND NOT v_unskipped AND cardinality(p_skip) > 0 THEN
      -- Nothing else: look at the passed-over instances' locks after all, once. The caller's list
      -- may be stale (a lock deleted with its instance, or expired during a long turn), and a
      -- fetch never answers "nothing" while a message it could take is visible. Once: what this
      -- second look passes over (filtered out, being claimed, lost) stays passed over.
      v_unskipped := true;
      v_skip := ARRAY(SELECT x FROM unnest(v_skip) AS x WHERE x <> ALL (p_skip));
      CONTINUE;
    END IF;
    IF NOT FOUND THEN
      -- When to look again: the next message to become visible, or the next lock to expire over
      -- visible messages (its holder may have died: the batch is then fetchable again).
      SELECT least(
               (SELECT min(visible_at) FROM __S__.orchestrator_queue WHERE visible_at > v_now),
               (SELECT min(lk.locked_until) FROM __S__.instance_locks AS lk
                 WHERE lk.locked_until > v_now
                   AND EXISTS (SELECT 1 FROM __S__.orchestrator_queue AS q WHERE q.instance_id = lk.instance_id AND q.visible_at <= v_now)))
             - v_now
        INTO o_next_due_ms;
      RETURN;
    END IF;
    -- The capability filter, checked for this candidate only: inside the pick above the planner
    -- turned it into a hashed subplan over every execution ever recorded (0.7 ms per pick at
    -- 1,200 instances, growing with the table).
    IF p_filtered AND EXISTS (
         SELECT 1 FROM __S__.instances AS i
           JOIN __S__.executions AS e ON e.instance_id = i.instance_id AND e.execution_id = i.current_execution_id
          WHERE i.instance_id = v_cand AND e.duroxide_version_major IS NOT NULL
            AND NOT (ARRAY[e.duroxide_version_major, e.duroxide_version_minor, e.duroxide_version_patch] >= p_min
                 AND ARRAY[e.duroxide_version_major, e.duroxide_version_minor, e.duroxide_version_patch] <= p_max)) THEN
      v_skip := v_skip || v_cand;
      CONTINUE;
    END IF;
    -- Another fetch is claiming this instance right now: leave it to that one.
    IF NOT pg_try_advisory_xact_lock(hashtextextended('__S__.' || v_cand, 0)) THEN
      v_skip := v_skip || v_cand;
      CONTINUE;
    END IF;
    v_token := gen_random_uuid()::text;
    INSERT INTO __S__.instance_locks (instance_id, lock_token, locked_until, locked_at)
    VALUES (v_cand, v_token, v_now + p_lock_ms, v_now)
    ON CONFLICT (instance_id) DO UPDATE
      SET lock_token = EXCLUDED.lock_token, locked_until = EXCLUDED.locked_until, locked_at = EXCLUDED.locked_at
      WHERE __S__.instance_locks.locked_until <= v_now;
    IF NOT FOUND THEN
      v_skip := v_skip || v_cand;
      CONTINUE;
    END IF;

    WITH tagged AS (
      UPDATE __S__.orchestrator_queue SET lock_token = v_token, attempt_count = attempt_count + 1
       WHERE instance_id = v_cand AND visible_at <= v_now
      RETURNING id, kind, work_item, attempt_count)
    SELECT array_agg(work_item ORDER BY id), array_agg(kind ORDER BY id), max(attempt_count)
      INTO o_messages, v_kinds, o_attempt FROM tagged;
    IF o_messages IS NULL THEN
      DELETE FROM __S__.instance_locks WHERE instance_id = v_cand AND lock_token = v_token;
      v_skip := v_skip || v_cand;
      CONTINUE;
    END IF;

    -- Who the instance is: its row, or else its latest execution's start event, or else a
    -- start message in the batch (decoded by the caller).
    o_existed := false;
    SELECT orchestration_name, orchestration_version, current_execution_id
      INTO o_name, o_version, o_execution_id FROM __S__.instances WHERE instance_id = v_cand;
    IF FOUND THEN
      o_existed := true;
    ELSE
      SELECT coalesce(max(execution_id), 1) INTO o_execution_id FROM __S__.executions WHERE instance_id = v_cand;
      SELECT event_data INTO o_started FROM __S__.history
       WHERE instance_id = v_cand AND execution_id = o_execution_id AND event_type = 'OrchestrationStarted'
       ORDER BY event_id LIMIT 1;
      v_has_start := 'StartOrchestration' = ANY (v_kinds) OR 'ContinueAsNew' = ANY (v_kinds);
      IF o_started IS NULL AND NOT v_has_start THEN
        -- Nothing here can be processed yet (an event raised before its start, a completion for
        -- a deleted instance). Persistent events for an instance that never started are dropped;
        -- the rest is looked at again later, backing off with its age (1 s to 60 s).
        IF v_kinds <@ ARRAY['QueueMessage'] THEN
          DELETE FROM __S__.orchestrator_queue WHERE instance_id = v_cand AND lock_token = v_token;
        ELSE
          UPDATE __S__.orchestrator_queue
             SET lock_token = NULL, attempt_count = greatest(attempt_count - 1, 0),
                 visible_at = v_now + least(greatest(v_now - created_at, 1000), 60000)
           WHERE instance_id = v_cand AND lock_token = v_token;
        END IF;
        DELETE FROM __S__.instance_locks WHERE instance_id = v_cand AND lock_token = v_token;
        v_skip := v_skip || v_cand;
        o_name := NULL; o_version := NULL; o_execution_id := NULL; o_started := NULL; o_messages := NULL; o_attempt := NULL;
        CONTINUE;
      END IF;
    END IF;

    IF p_tail IS NULL THEN
      SELECT coalesce(array_agg(event_data ORDER BY event_id), '{}') INTO o_history
        FROM __S__.history WHERE instance_id = v_cand AND execution_id = o_execution_id;
      o_history_complete := true;
    ELSE
      SELECT coalesce(array_agg(t.event_data ORDER BY t.event_id), '{}'), min(t.event_id), count(*)
        INTO o_history, v_first, v_count
        FROM (SELECT event_id, event_data FROM __S__.history
               WHERE instance_id = v_cand AND execution_id = o_execution_id
               ORDER BY event_id DESC LIMIT p_tail) AS t;
      o_history_complete := v_count < p_tail OR NOT EXISTS (
        SELECT 1 FROM __S__.history WHERE instance_id = v_cand AND execution_id = o_execution_id AND event_id < v_first);
    END IF;
    SELECT coalesce(array_agg(key), '{}'), coalesce(array_agg(value), '{}'), coalesce(array_agg(last_updated_at_ms), '{}')
      INTO o_kv_keys, o_kv_values, o_kv_times FROM __S__.kv_store WHERE instance_id = v_cand;
    o_instance := v_cand;
    o_token := v_token;
    RETURN;
  END LOOP;
END $$;

-- The version-2 fetch (whole history), kept for processes of the previous release still running
-- against an upgraded schema during a rolling deploy.
CREATE OR REPLACE FUNCTION __S__.fetch_orch(
  p_lock_ms BIGINT, p_filtered BOOLEAN, p_min BIGINT[], p_max BIGINT[],
  OUT o_instance TEXT, OUT o_token TEXT, OUT o_execution_id BIGINT,
  OUT o_name TEXT, OUT o_version TEXT, OUT o_existed BOOLEAN,
  OUT o_messages TEXT[], OUT o_attempt INTEGER,
  OUT o_history TEXT[], OUT o_started TEXT,
  OUT o_kv_keys TEXT[], OUT o_kv_values TEXT[], OUT o_kv_times BIGINT[],
  OUT o_next_due_ms BIGINT)
LANGUAGE sql AS $$
  SELECT f.o_instance, f.o_token, f.o_execution_id, f.o_name, f.o_version, f.o_existed, f.o_messages, f.o_attempt,
         f.o_history, f.o_started, f.o_kv_keys, f.o_kv_values, f.o_kv_times, f.o_next_due_ms
    FROM __S__.fetch_orch_tail(p_lock_ms, p_filtered, p_min, p_max, NULL) AS f
$$;

-- Commits one turn (docs/provider-contract.md §3.3): checks the lock, deletes the batch, writes
-- the instance and execution rows, history, status, custom status, KV, activities, their
-- cancellations and orchestrator messages, releases the lock. All or nothing.
CREATE OR REPLACE FUNCTION __S__.ack_orch(
  p_token TEXT, p_execution_id BIGINT,
  p_event_ids BIGINT[], p_event_types TEXT[], p_event_data TEXT[],
  p_w_items TEXT[], p_w_instances TEXT[], p_w_executions BIGINT[], p_w_activities BIGINT[], p_w_sessions TEXT[], p_w_tags TEXT[],
  p_o_instances TEXT[], p_o_kinds TEXT[], p_o_items TEXT[], p_o_delays BIGINT[],
  p_name TEXT, p_version TEXT, p_parent TEXT, p_status TEXT, p_output TEXT, p_pin BIGINT[],
  p_custom_status_set BOOLEAN, p_custom_status TEXT,
  p_kv_ops TEXT[], p_kv_keys TEXT[], p_kv_values TEXT[], p_kv_times BIGINT[],
  p_c_instances TEXT[], p_c_executions BIGINT[], p_c_activities BIGINT[],
  OUT o_instance TEXT, OUT o_pending BOOLEAN)
LANGUAGE plpgsql ${LOOKUP_SETTINGS} AS $$
DECLARE
  v_now BIGINT := __S__.now_ms();
  v_instance TEXT;
  v_until BIGINT;
  v_fresh BOOLEAN := false;
  v_terminal BOOLEAN := p_status IN ('Completed', 'Failed', 'ContinuedAsNew');
  i INTEGER;
BEGIN
  SELECT instance_id, locked_until INTO v_instance, v_until FROM __S__.instance_locks WHERE lock_token = p_token FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION USING ERRCODE = 'DXL01', MESSAGE = format('Invalid lock token: %s (unknown, already acked or abandoned, or the instance was deleted)', p_token);
  END IF;
  IF v_until <= v_now THEN
    RAISE EXCEPTION USING ERRCODE = 'DXL01', MESSAGE = format('lock expired for instance %s: the turn took longer than the lock timeout', v_instance);
  END IF;

  DELETE FROM __S__.orchestrator_queue WHERE instance_id = v_instance AND lock_token = p_token;

  IF p_name IS NOT NULL AND p_version IS NOT NULL THEN
    INSERT INTO __S__.instances (instance_id, orchestration_name, orchestration_version, current_execution_id, parent_instance_id, created_at, updated_at)
    VALUES (v_instance, p_name, p_version, p_execution_id, p_parent, v_now, v_now)
    ON CONFLICT (instance_id) DO UPDATE
      SET orchestration_name = EXCLUDED.orchestration_name, orchestration_version = EXCLUDED.orchestration_version, updated_at = EXCLUDED.updated_at
      WHERE __S__.instances.orchestration_name IS DISTINCT FROM EXCLUDED.orchestration_name
         OR __S__.instances.orchestration_version IS DISTINCT FROM EXCLUDED.orchestration_version;
  END IF;

  INSERT INTO __S__.executions (instance_id, execution_id, status, started_at)
  VALUES (v_instance, p_execution_id, 'Running', v_now) ON CONFLICT DO NOTHING;
  v_fresh := FOUND;
  IF v_fresh THEN
    UPDATE __S__.instances SET current_execution_id = p_execution_id, updated_at = v_now
     WHERE instance_id = v_instance AND current_execution_id < p_execution_id;
  END IF;
  IF p_pin IS NOT NULL THEN
    UPDATE __S__.executions SET duroxide_version_major = p_pin[1], duroxide_version_minor = p_pin[2], duroxide_version_patch = p_pin[3]
     WHERE instance_id = v_instance AND execution_id = p_execution_id;
  END IF;

  IF cardinality(p_event_ids) > 0 THEN
    INSERT INTO __S__.history (instance_id, execution_id, event_id, event_type, event_data, created_at)
    SELECT v_instance, p_execution_id, e.id, e.t, e.d, v_now FROM unnest(p_event_ids, p_event_types, p_event_data) AS e(id, t, d);
  END IF;

  IF p_status IS NOT NULL AND NOT (v_fresh AND p_status = 'Running' AND p_output IS NULL) THEN
    UPDATE __S__.executions
       SET status = p_status, output = p_output, completed_at = CASE WHEN v_terminal THEN v_now ELSE completed_at END
     WHERE instance_id = v_instance AND execution_id = p_execution_id;
  END IF;

  IF p_custom_status_set THEN
    UPDATE __S__.instances SET custom_status = p_custom_status, custom_status_version = custom_status_version + 1, updated_at = v_now
     WHERE instance_id = v_instance;
  END IF;

  -- KV: changes go to the execution's overlay in order; a terminal turn merges it into kv_store.
  FOR i IN 1 .. coalesce(cardinality(p_kv_ops), 0) LOOP
    IF p_kv_ops[i] = 'set' THEN
      INSERT INTO __S__.kv_delta (instance_id, key, value, last_updated_at_ms) VALUES (v_instance, p_kv_keys[i], p_kv_values[i], p_kv_times[i])
      ON CONFLICT (instance_id, key) DO UPDATE SET value = EXCLUDED.value, last_updated_at_ms = EXCLUDED.last_updated_at_ms;
    ELSIF p_kv_ops[i] = 'clear' THEN
      INSERT INTO __S__.kv_delta (instance_id, key, value, last_updated_at_ms) VALUES (v_instance, p_kv_keys[i], NULL, v_now)
      ON CONFLICT (instance_id, key) DO UPDATE SET value = NULL, last_updated_at_ms = EXCLUDED.last_updated_at_ms;
    ELSE
      UPDATE __S__.kv_delta SET value = NULL, last_updated_at_ms = v_now WHERE instance_id = v_instance;
      INSERT INTO __S__.kv_delta (instance_id, key, value, last_updated_at_ms)
      SELECT v_instance, key, NULL, v_now FROM __S__.kv_store WHERE instance_id = v_instance
      ON CONFLICT DO NOTHING;
    END IF;
  END LOOP;
  IF v_terminal AND EXISTS (SELECT 1 FROM __S__.kv_delta WHERE instance_id = v_instance) THEN
    INSERT INTO __S__.kv_store (instance_id, key, value, last_updated_at_ms)
    SELECT instance_id, key, value, last_updated_at_ms FROM __S__.kv_delta WHERE instance_id = v_instance AND value IS NOT NULL
    ON CONFLICT (instance_id, key) DO UPDATE SET value = EXCLUDED.value, last_updated_at_ms = EXCLUDED.last_updated_at_ms;
    DELETE FROM __S__.kv_store WHERE instance_id = v_instance
       AND key IN (SELECT key FROM __S__.kv_delta WHERE instance_id = v_instance AND value IS NULL);
    DELETE FROM __S__.kv_delta WHERE instance_id = v_instance;
  END IF;

  IF cardinality(p_w_items) > 0 THEN
    INSERT INTO __S__.worker_queue (work_item, visible_at, created_at, instance_id, execution_id, activity_id, session_id, tag)
    SELECT w.item, v_now, v_now, w.inst, w.ex, w.act, w.sess, w.tag
      FROM unnest(p_w_items, p_w_instances, p_w_executions, p_w_activities, p_w_sessions, p_w_tags) AS w(item, inst, ex, act, sess, tag);
  END IF;
  -- After the inserts: scheduling and cancelling one activity in the same turn is a no-op.
  IF cardinality(p_c_instances) > 0 THEN
    DELETE FROM __S__.worker_queue AS w
     USING unnest(p_c_instances, p_c_executions, p_c_activities) AS c(inst, ex, act)
     WHERE w.instance_id = c.inst AND w.execution_id = c.ex AND w.activity_id = c.act;
  END IF;

  IF cardinality(p_o_items) > 0 THEN
    INSERT INTO __S__.orchestrator_queue (instance_id, kind, work_item, visible_at, created_at)
    SELECT o.inst, o.kind, o.item, v_now + o.delay, v_now FROM unnest(p_o_instances, p_o_kinds, p_o_items, p_o_delays) AS o(inst, kind, item, delay);
  END IF;

  DELETE FROM __S__.instance_locks WHERE instance_id = v_instance AND lock_token = p_token;
  o_instance := v_instance;
  -- Messages that arrived during the turn are fetchable now that the lock is gone: the caller
  -- announces them to other processes.
  o_pending := EXISTS (SELECT 1 FROM __S__.orchestrator_queue WHERE instance_id = v_instance AND visible_at <= v_now);
END $$;

CREATE OR REPLACE FUNCTION __S__.abandon_orch(p_token TEXT, p_delay_ms BIGINT, p_ignore_attempt BOOLEAN) RETURNS void
LANGUAGE plpgsql ${LOOKUP_SETTINGS} AS $$
DECLARE
  v_now BIGINT := __S__.now_ms();
  v_instance TEXT;
BEGIN
  PERFORM set_config('synchronous_commit', 'off', true);
  DELETE FROM __S__.instance_locks WHERE lock_token = p_token RETURNING instance_id INTO v_instance;
  IF NOT FOUND THEN
    RAISE EXCEPTION USING ERRCODE = 'DXL01', MESSAGE = format('Invalid lock token: %s (unknown, expired and re-locked, or already released)', p_token);
  END IF;
  IF p_ignore_attempt THEN
    UPDATE __S__.orchestrator_queue SET attempt_count = greatest(attempt_count - 1, 0) WHERE instance_id = v_instance AND lock_token = p_token;
  END IF;
  IF p_delay_ms > 0 THEN
    UPDATE __S__.orchestrator_queue SET visible_at = v_now + p_delay_ms WHERE instance_id = v_instance AND visible_at <= v_now;
  END IF;
  UPDATE __S__.orchestrator_queue SET lock_token = NULL WHERE instance_id = v_instance AND lock_token = p_token;
END $$;

CREATE OR REPLACE FUNCTION __S__.renew_orch(p_token TEXT, p_extend_ms BIGINT) RETURNS void
LANGUAGE plpgsql ${LOOKUP_SETTINGS} AS $$
DECLARE v_now BIGINT := __S__.now_ms();
BEGIN
  PERFORM set_config('synchronous_commit', 'off', true);
  UPDATE __S__.instance_locks SET locked_until = v_now + p_extend_ms WHERE lock_token = p_token AND locked_until > v_now;
  IF NOT FOUND THEN
    RAISE EXCEPTION USING ERRCODE = 'DXL01', MESSAGE = format('cannot renew lock %s: it expired, was released, or the instance was deleted', p_token);
  END IF;
END $$;

CREATE OR REPLACE FUNCTION __S__.enqueue_worker(p_item TEXT, p_instance TEXT, p_execution_id BIGINT, p_activity_id BIGINT, p_session TEXT, p_tag TEXT) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE v_now BIGINT := __S__.now_ms();
BEGIN
  INSERT INTO __S__.worker_queue (work_item, visible_at, created_at, instance_id, execution_id, activity_id, session_id, tag)
  VALUES (p_item, v_now, v_now, p_instance, p_execution_id, p_activity_id, p_session, p_tag);
END $$;

-- Claims the oldest visible, unlocked work item the tag filter admits (tag_admits).
-- With p_session, an item of a session is taken only when the session is free or p_owner's, and
-- the session is claimed for p_owner in the same transaction; without it, session items are not
-- taken at all. Nothing found: only o_next_due_ms is set.
CREATE OR REPLACE FUNCTION __S__.fetch_work(
  p_lock_ms BIGINT, p_tag_mode TEXT, p_tags TEXT[], p_session BOOLEAN, p_owner TEXT, p_session_lock_ms BIGINT,
  OUT o_token TEXT, OUT o_item TEXT, OUT o_attempt INTEGER, OUT o_next_due_ms BIGINT)
LANGUAGE plpgsql ${LOOKUP_SETTINGS} AS $$
DECLARE
  v_now BIGINT := __S__.now_ms();
  v_skip BIGINT[] := '{}';
  v_row RECORD;
BEGIN
  PERFORM set_config('synchronous_commit', 'off', true);
  LOOP
    SELECT w.id, w.work_item, w.attempt_count, w.session_id INTO v_row
      FROM __S__.worker_queue AS w
      LEFT JOIN __S__.sessions AS o ON p_session AND o.session_id = w.session_id AND o.locked_until > v_now
     WHERE __S__.work_takable(w.visible_at, w.lock_token, w.locked_until, w.tag, w.session_id, o.session_id, o.worker_id,
                              v_now, p_tag_mode, p_tags, p_session, p_owner)
       AND w.id <> ALL (v_skip)
     ORDER BY w.visible_at, w.id
     LIMIT 1
     FOR UPDATE OF w SKIP LOCKED;
    IF NOT FOUND THEN
      -- When to look again: the next item to become visible, or the next lease to expire (its
      -- worker may have died: the item is then fetchable again). A locked item is always visible
      -- (only visible items are claimed, and a claim keeps visible_at): saying so lets the lease
      -- lookup walk the visible part of idx_worker_visible instead of scanning the table, dead
      -- rows and all (no index has locked_until: a claim would then no longer be a HOT update).
      SELECT least(
               (SELECT min(visible_at) FROM __S__.worker_queue WHERE visible_at > v_now),
               (SELECT min(locked_until) FROM __S__.worker_queue WHERE visible_at <= v_now AND lock_token IS NOT NULL AND locked_until > v_now))
             - v_now
        INTO o_next_due_ms;
      RETURN;
    END IF;
    IF v_row.session_id IS NOT NULL THEN
      INSERT INTO __S__.sessions (session_id, worker_id, locked_until, last_activity_at)
      VALUES (v_row.session_id, p_owner, v_now + p_session_lock_ms, v_now)
      ON CONFLICT (session_id) DO UPDATE
        SET worker_id = EXCLUDED.worker_id, locked_until = EXCLUDED.locked_until, last_activity_at = EXCLUDED.last_activity_at
        WHERE __S__.sessions.locked_until <= v_now OR __S__.sessions.worker_id = p_owner;
      IF NOT FOUND THEN
        -- The session went to another owner between the pick and the claim.
        v_skip := v_skip || v_row.id;
        CONTINUE;
      END IF;
    END IF;
    -- The token starts with the row's id: ack, renew and abandon find the row by primary key.
    o_token := v_row.id || '.' || gen_random_uuid();
    UPDATE __S__.worker_queue SET lock_token = o_token, locked_until = v_now + p_lock_ms, attempt_count = attempt_count + 1
     WHERE id = v_row.id;
    o_item := v_row.work_item;
    o_attempt := v_row.attempt_count + 1;
    RETURN;
  END LOOP;
END $$;

-- Claims up to p_count work items for p_lock_ms that this process's next fetches of a filter
-- would take, in queue order, in one statement (claiming ahead: docs/provider-contract.md §16.4):
-- the visible, unlocked items of the tag filter, up to the first session item such a fetch could
-- take (p_session: a fetch with a session config for p_owner), which is never claimed ahead.
-- Handed out in order, they keep the order a fetch sees. Returns them oldest first.
CREATE OR REPLACE FUNCTION __S__.claim_work_ahead(
  p_lock_ms BIGINT, p_tag_mode TEXT, p_tags TEXT[], p_session BOOLEAN, p_owner TEXT, p_count INTEGER,
  OUT o_tokens TEXT[], OUT o_items TEXT[], OUT o_attempts INTEGER[])
LANGUAGE plpgsql ${LOOKUP_SETTINGS} AS $$
DECLARE
  v_now BIGINT := __S__.now_ms();
  v_ids BIGINT[] := '{}';
  v_row RECORD;
BEGIN
  o_tokens := '{}'; o_items := '{}'; o_attempts := '{}';
  IF p_count <= 0 THEN
    RETURN;
  END IF;
  FOR v_row IN
    SELECT w.id, w.session_id
      FROM __S__.worker_queue AS w
      LEFT JOIN __S__.sessions AS o ON p_session AND o.session_id = w.session_id AND o.locked_until > v_now
     WHERE __S__.work_takable(w.visible_at, w.lock_token, w.locked_until, w.tag, w.session_id, o.session_id, o.worker_id,
                              v_now, p_tag_mode, p_tags, p_session, p_owner)
     ORDER BY w.visible_at, w.id
     LIMIT p_count
     FOR UPDATE OF w SKIP LOCKED
  LOOP
    EXIT WHEN v_row.session_id IS NOT NULL;
    v_ids := v_ids || v_row.id;
  END LOOP;
  IF cardinality(v_ids) = 0 THEN
    RETURN;
  END IF;
  WITH claimed AS (
    UPDATE __S__.worker_queue AS w
       SET lock_token = w.id || '.' || gen_random_uuid(), locked_until = v_now + p_lock_ms, attempt_count = w.attempt_count + 1
     WHERE w.id = ANY (v_ids)
    RETURNING w.id, w.visible_at, w.lock_token, w.work_item, w.attempt_count)
  SELECT array_agg(lock_token ORDER BY visible_at, id), array_agg(work_item ORDER BY visible_at, id), array_agg(attempt_count ORDER BY visible_at, id)
    INTO o_tokens, o_items, o_attempts FROM claimed;
END $$;

-- fetch_work, then, when it found an item, up to p_count more claimed ahead for this process's
-- next fetches of the same filter (claim_work_ahead), locked for p_ahead_lock_ms.
CREATE OR REPLACE FUNCTION __S__.fetch_work_ahead(
  p_lock_ms BIGINT, p_tag_mode TEXT, p_tags TEXT[], p_session BOOLEAN, p_owner TEXT, p_session_lock_ms BIGINT,
  p_ahead_lock_ms BIGINT, p_count INTEGER,
  OUT o_token TEXT, OUT o_item TEXT, OUT o_attempt INTEGER, OUT o_next_due_ms BIGINT,
  OUT o_tokens TEXT[], OUT o_items TEXT[], OUT o_attempts INTEGER[])
LANGUAGE plpgsql AS $$
BEGIN
  SELECT w.o_token, w.o_item, w.o_attempt, w.o_next_due_ms INTO o_token, o_item, o_attempt, o_next_due_ms
    FROM __S__.fetch_work(p_lock_ms, p_tag_mode, p_tags, p_session, p_owner, p_session_lock_ms) AS w;
  SELECT c.o_tokens, c.o_items, c.o_attempts INTO o_tokens, o_items, o_attempts
    FROM __S__.claim_work_ahead(p_ahead_lock_ms, p_tag_mode, p_tags, p_session, p_owner, CASE WHEN o_token IS NULL THEN 0 ELSE p_count END) AS c;
END $$;

-- Acks a batch of work items in one transaction (the provider groups acks that callers make while
-- another batch is committing: one commit, one WAL flush for all of them), in one statement. Each
-- ack stands alone: one whose lock is gone (cancelled, expired, acked twice) is skipped and
-- reported, the others commit. Returns the 1-based positions of the acks that were applied;
-- completions are enqueued in the batch's order (ids drawn as the sorted rows are inserted).
CREATE OR REPLACE FUNCTION __S__.ack_work_many(p_tokens TEXT[], p_instances TEXT[], p_kinds TEXT[], p_items TEXT[]) RETURNS INTEGER[]
LANGUAGE plpgsql ${LOOKUP_SETTINGS} AS $$
DECLARE
  v_now BIGINT := __S__.now_ms();
  v_done INTEGER[];
BEGIN
  WITH acks AS (
    SELECT a.token, a.inst, a.kind, a.item, a.pos::integer AS pos
      FROM unnest(p_tokens, p_instances, p_kinds, p_items) WITH ORDINALITY AS a(token, inst, kind, item, pos)),
  gone AS (
    DELETE FROM __S__.worker_queue AS w USING acks
     WHERE w.id = __S__.token_row(acks.token) AND w.lock_token = acks.token AND w.locked_until > v_now
    RETURNING acks.pos, acks.inst, acks.kind, acks.item, w.session_id),
  touched AS (
    UPDATE __S__.sessions SET last_activity_at = v_now
     WHERE session_id IN (SELECT session_id FROM gone WHERE session_id IS NOT NULL) AND locked_until > v_now),
  queued AS (
    INSERT INTO __S__.orchestrator_queue (instance_id, kind, work_item, visible_at, created_at)
    SELECT inst, kind, item, v_now, v_now FROM gone WHERE item IS NOT NULL ORDER BY pos)
  SELECT coalesce(array_agg(pos ORDER BY pos), '{}') INTO v_done FROM gone;
  RETURN v_done;
END $$;

-- Hand-offs (docs/provider-contract.md §16.4): a write that makes work for a queue on which a fetch
-- of this process is parked claims that work for it in the same transaction, one round trip
-- instead of a commit, a wake-up and a fetch. Each runs the write and then the ordinary claim
-- (same rules, same lock), and restores synchronous_commit, which the claim turns off for its
-- own transaction: the write's commit stays durable.

-- enqueue_orch, then fetch_orch_tail for the parked fetch.
CREATE OR REPLACE FUNCTION __S__.enqueue_orch_claim(
  p_instance TEXT, p_kind TEXT, p_item TEXT, p_delay_ms BIGINT,
  p_lock_ms BIGINT, p_filtered BOOLEAN, p_min BIGINT[], p_max BIGINT[], p_tail INTEGER,
  OUT o_instance TEXT, OUT o_token TEXT, OUT o_execution_id BIGINT,
  OUT o_name TEXT, OUT o_version TEXT, OUT o_existed BOOLEAN,
  OUT o_messages TEXT[], OUT o_attempt INTEGER,
  OUT o_history TEXT[], OUT o_history_complete BOOLEAN, OUT o_started TEXT,
  OUT o_kv_keys TEXT[], OUT o_kv_values TEXT[], OUT o_kv_times BIGINT[],
  OUT o_next_due_ms BIGINT)
LANGUAGE plpgsql AS $$
DECLARE v_sync TEXT := current_setting('synchronous_commit');
BEGIN
  PERFORM __S__.enqueue_orch(p_instance, p_kind, p_item, p_delay_ms);
  SELECT f.o_instance, f.o_token, f.o_execution_id, f.o_name, f.o_version, f.o_existed, f.o_messages, f.o_attempt,
         f.o_history, f.o_history_complete, f.o_started, f.o_kv_keys, f.o_kv_values, f.o_kv_times, f.o_next_due_ms
    INTO o_instance, o_token, o_execution_id, o_name, o_version, o_existed, o_messages, o_attempt,
         o_history, o_history_complete, o_started, o_kv_keys, o_kv_values, o_kv_times, o_next_due_ms
    FROM __S__.fetch_orch_tail(p_lock_ms, p_filtered, p_min, p_max, p_tail) AS f;
  PERFORM set_config('synchronous_commit', v_sync, true);
END $$;

-- ack_work_many (o_done: its result), then fetch_orch_tail for the parked fetch.
CREATE OR REPLACE FUNCTION __S__.ack_work_many_claim(
  p_tokens TEXT[], p_instances TEXT[], p_kinds TEXT[], p_items TEXT[],
  p_lock_ms BIGINT, p_filtered BOOLEAN, p_min BIGINT[], p_max BIGINT[], p_tail INTEGER,
  OUT o_done INTEGER[],
  OUT o_instance TEXT, OUT o_token TEXT, OUT o_execution_id BIGINT,
  OUT o_name TEXT, OUT o_version TEXT, OUT o_existed BOOLEAN,
  OUT o_messages TEXT[], OUT o_attempt INTEGER,
  OUT o_history TEXT[], OUT o_history_complete BOOLEAN, OUT o_started TEXT,
  OUT o_kv_keys TEXT[], OUT o_kv_values TEXT[], OUT o_kv_times BIGINT[],
  OUT o_next_due_ms BIGINT)
LANGUAGE plpgsql AS $$
DECLARE v_sync TEXT := current_setting('synchronous_commit');
BEGIN
  o_done := __S__.ack_work_many(p_tokens, p_instances, p_kinds, p_items);
  SELECT f.o_instance, f.o_token, f.o_execution_id, f.o_name, f.o_version, f.o_existed, f.o_messages, f.o_attempt,
         f.o_history, f.o_history_complete, f.o_started, f.o_kv_keys, f.o_kv_values, f.o_kv_times, f.o_next_due_ms
    INTO o_instance, o_token, o_execution_id, o_name, o_version, o_existed, o_messages, o_attempt,
         o_history, o_history_complete, o_started, o_kv_keys, o_kv_values, o_kv_times, o_next_due_ms
    FROM __S__.fetch_orch_tail(p_lock_ms, p_filtered, p_min, p_max, p_tail) AS f;
  PERFORM set_config('synchronous_commit', v_sync, true);
END $$;

-- ack_orch, then up to p_count claims of fetch_work for parked fetches that share one filter.
CREATE OR REPLACE FUNCTION __S__.ack_orch_claim_work(
  p_token TEXT, p_execution_id BIGINT,
  p_event_ids BIGINT[], p_event_types TEXT[], p_event_data TEXT[],
  p_w_items TEXT[], p_w_instances TEXT[], p_w_executions BIGINT[], p_w_activities BIGINT[], p_w_sessions TEXT[], p_w_tags TEXT[],
  p_o_instances TEXT[], p_o_kinds TEXT[], p_o_items TEXT[], p_o_delays BIGINT[],
  p_name TEXT, p_version TEXT, p_parent TEXT, p_status TEXT, p_output TEXT, p_pin BIGINT[],
  p_custom_status_set BOOLEAN, p_custom_status TEXT,
  p_kv_ops TEXT[], p_kv_keys TEXT[], p_kv_values TEXT[], p_kv_times BIGINT[],
  p_c_instances TEXT[], p_c_executions BIGINT[], p_c_activities BIGINT[],
  p_lock_ms BIGINT, p_tag_mode TEXT, p_tags TEXT[], p_session BOOLEAN, p_owner TEXT, p_session_lock_ms BIGINT, p_count INTEGER,
  OUT o_instance TEXT, OUT o_pending BOOLEAN, OUT o_tokens TEXT[], OUT o_items TEXT[], OUT o_attempts INTEGER[])
LANGUAGE plpgsql AS $$
DECLARE
  v_sync TEXT := current_setting('synchronous_commit');
  v_claim RECORD;
BEGIN
  SELECT a.o_instance, a.o_pending INTO o_instance, o_pending
    FROM __S__.ack_orch(p_token, p_execution_id, p_event_ids, p_event_types, p_event_data,
      p_w_items, p_w_instances, p_w_executions, p_w_activities, p_w_sessions, p_w_tags,
      p_o_instances, p_o_kinds, p_o_items, p_o_delays,
      p_name, p_version, p_parent, p_status, p_output, p_pin,
      p_custom_status_set, p_custom_status,
      p_kv_ops, p_kv_keys, p_kv_values, p_kv_times,
      p_c_instances, p_c_executions, p_c_activities) AS a;
  IF NOT p_session THEN
    -- No session item can be taken: one statement for all the claims (claim_work_ahead).
    SELECT c.o_tokens, c.o_items, c.o_attempts INTO o_tokens, o_items, o_attempts
      FROM __S__.claim_work_ahead(p_lock_ms, p_tag_mode, p_tags, false, '', p_count) AS c;
  ELSE
    -- For fetches with a session config: each claim may take a session item and claim its session.
    o_tokens := '{}'; o_items := '{}'; o_attempts := '{}';
    FOR i IN 1 .. p_count LOOP
      SELECT w.o_token, w.o_item, w.o_attempt INTO v_claim
        FROM __S__.fetch_work(p_lock_ms, p_tag_mode, p_tags, p_session, p_owner, p_session_lock_ms) AS w;
      EXIT WHEN v_claim.o_token IS NULL;
      o_tokens := o_tokens || v_claim.o_token;
      o_items := o_items || v_claim.o_item;
      o_attempts := o_attempts || v_claim.o_attempt;
    END LOOP;
  END IF;
  PERFORM set_config('synchronous_commit', v_sync, true);
END $$;

-- The rule both ways of writing a held start share (see fused-starts.ts): takes the instance's
-- lock under p_token, unless another holds it, and says whether the instance is new with nothing
-- waiting for it: no instance row, no history, no start already queued (which must win, as the
-- first start of a batch does), and no visible message (an event raised before the start must be
-- in the start's batch, as a fetch would take it). A message not visible yet (a fetch that met it
-- before the start put it back for a second) is left for a later turn, as a fetch would leave it.
-- The lock is taken before the checks, so a second start of the same instance in another
-- transaction waits for the first and then sees its rows. The caller undoes the lock (raises, or
-- deletes it) when this returns false.
CREATE OR REPLACE FUNCTION __S__.lock_new_instance(p_instance TEXT, p_token TEXT, p_lock_ms BIGINT) RETURNS BOOLEAN
LANGUAGE plpgsql AS $$
DECLARE v_now BIGINT := __S__.now_ms();
BEGIN
  INSERT INTO __S__.instance_locks (instance_id, lock_token, locked_until, locked_at)
  VALUES (p_instance, p_token, v_now + p_lock_ms, v_now)
  ON CONFLICT (instance_id) DO UPDATE
    SET lock_token = EXCLUDED.lock_token, locked_until = EXCLUDED.locked_until, locked_at = EXCLUDED.locked_at
    WHERE __S__.instance_locks.locked_until <= v_now;
  RETURN FOUND
    AND NOT EXISTS (SELECT 1 FROM __S__.instances WHERE instance_id = p_instance)
    AND NOT EXISTS (SELECT 1 FROM __S__.history WHERE instance_id = p_instance)
    AND NOT EXISTS (SELECT 1 FROM __S__.orchestrator_queue
                     WHERE instance_id = p_instance AND (kind IN ('StartOrchestration', 'ContinueAsNew') OR visible_at <= v_now));
END $$;

-- A start committed with its first turn (see fused-starts.ts): the instance's lock under the
-- token the provider made, then ack_orch_claim_work under that token, in one transaction. Only
-- for a new instance with nothing waiting for it (lock_new_instance); otherwise nothing is
-- written and DXS01 says so (the caller then queues the start instead, and a fetch takes it with
-- what waits).
CREATE OR REPLACE FUNCTION __S__.start_ack_orch(
  p_instance TEXT, p_orch_lock_ms BIGINT,
  p_token TEXT, p_execution_id BIGINT,
  p_event_ids BIGINT[], p_event_types TEXT[], p_event_data TEXT[],
  p_w_items TEXT[], p_w_instances TEXT[], p_w_executions BIGINT[], p_w_activities BIGINT[], p_w_sessions TEXT[], p_w_tags TEXT[],
  p_o_instances TEXT[], p_o_kinds TEXT[], p_o_items TEXT[], p_o_delays BIGINT[],
  p_name TEXT, p_version TEXT, p_parent TEXT, p_status TEXT, p_output TEXT, p_pin BIGINT[],
  p_custom_status_set BOOLEAN, p_custom_status TEXT,
  p_kv_ops TEXT[], p_kv_keys TEXT[], p_kv_values TEXT[], p_kv_times BIGINT[],
  p_c_instances TEXT[], p_c_executions BIGINT[], p_c_activities BIGINT[],
  p_lock_ms BIGINT, p_tag_mode TEXT, p_tags TEXT[], p_session BOOLEAN, p_owner TEXT, p_session_lock_ms BIGINT, p_count INTEGER,
  OUT o_instance TEXT, OUT o_pending BOOLEAN, OUT o_tokens TEXT[], OUT o_items TEXT[], OUT o_attempts INTEGER[])
LANGUAGE plpgsql AS $$
BEGIN
  IF NOT __S__.lock_new_instance(p_instance, p_token, p_orch_lock_ms) THEN
    RAISE EXCEPTION USING ERRCODE = 'DXS01', MESSAGE = 'instance ' || p_instance || ' is not new: its start goes through the queue';
  END IF;
  SELECT c.o_instance, c.o_pending, c.o_tokens, c.o_items, c.o_attempts INTO o_instance, o_pending, o_tokens, o_items, o_attempts
    FROM __S__.ack_orch_claim_work(p_token, p_execution_id, p_event_ids, p_event_types, p_event_data,
      p_w_items, p_w_instances, p_w_executions, p_w_activities, p_w_sessions, p_w_tags,
      p_o_instances, p_o_kinds, p_o_items, p_o_delays,
      p_name, p_version, p_parent, p_status, p_output, p_pin,
      p_custom_status_set, p_custom_status,
      p_kv_ops, p_kv_keys, p_kv_values, p_kv_times,
      p_c_instances, p_c_executions, p_c_activities,
      p_lock_ms, p_tag_mode, p_tags, p_session, p_owner, p_session_lock_ms, p_count) AS c;
END $$;

-- A held start whose first turn did not ack within the hold (see fused-starts.ts): written alone,
-- already claimed under the token the fetch holds (its queue row tagged, the instance's lock row)
-- when the instance is new with nothing waiting for it (lock_new_instance, as for start_ack_orch),
-- so that the turn's ack is then an ordinary one; otherwise a plain enqueue (the token names no
-- lock: the turn's ack fails LockLost, a fetch delivers the start with what waits).
-- Returns whether it took the lock.
CREATE OR REPLACE FUNCTION __S__.hold_start(p_instance TEXT, p_item TEXT, p_token TEXT, p_lock_ms BIGINT) RETURNS BOOLEAN
LANGUAGE plpgsql AS $$
DECLARE
  v_now BIGINT := __S__.now_ms();
  v_locked BOOLEAN := __S__.lock_new_instance(p_instance, p_token, p_lock_ms);
BEGIN
  IF NOT v_locked THEN
    DELETE FROM __S__.instance_locks WHERE instance_id = p_instance AND lock_token = p_token;
  END IF;
  INSERT INTO __S__.orchestrator_queue (instance_id, kind, work_item, visible_at, created_at, lock_token, attempt_count)
  VALUES (p_instance, 'StartOrchestration', p_item, v_now, v_now, CASE WHEN v_locked THEN p_token END, CASE WHEN v_locked THEN 1 ELSE 0 END);
  RETURN v_locked;
END $$;

CREATE OR REPLACE FUNCTION __S__.abandon_work(p_token TEXT, p_delay_ms BIGINT, p_ignore_attempt BOOLEAN) RETURNS void
LANGUAGE plpgsql ${LOOKUP_SETTINGS} AS $$
DECLARE v_now BIGINT := __S__.now_ms();
BEGIN
  PERFORM set_config('synchronous_commit', 'off', true);
  UPDATE __S__.worker_queue
     SET lock_token = NULL, locked_until = NULL, visible_at = v_now + p_delay_ms,
         attempt_count = CASE WHEN p_ignore_attempt THEN greatest(attempt_count - 1, 0) ELSE attempt_count END
   WHERE id = __S__.token_row(p_token) AND lock_token = p_token;
  IF NOT FOUND THEN
    RAISE EXCEPTION USING ERRCODE = 'DXL01', MESSAGE = format('unknown work item lock token %s', p_token);
  END IF;
END $$;

CREATE OR REPLACE FUNCTION __S__.renew_work(p_token TEXT, p_extend_ms BIGINT) RETURNS void
LANGUAGE plpgsql ${LOOKUP_SETTINGS} AS $$
DECLARE
  v_now BIGINT := __S__.now_ms();
  v_session TEXT;
BEGIN
  PERFORM set_config('synchronous_commit', 'off', true);
  UPDATE __S__.worker_queue SET locked_until = v_now + p_extend_ms
   WHERE id = __S__.token_row(p_token) AND lock_token = p_token AND locked_until > v_now
  RETURNING session_id INTO v_session;
  IF NOT FOUND THEN
    RAISE EXCEPTION USING ERRCODE = 'DXL01', MESSAGE = format('work item lock %s is gone: cancelled, expired or acked', p_token);
  END IF;
  IF v_session IS NOT NULL THEN
    UPDATE __S__.sessions SET last_activity_at = v_now WHERE session_id = v_session AND locked_until > v_now;
  END IF;
END $$;

CREATE OR REPLACE FUNCTION __S__.renew_sessions(p_owners TEXT[], p_extend_ms BIGINT, p_idle_ms BIGINT) RETURNS INTEGER
LANGUAGE plpgsql ${LOOKUP_SETTINGS} AS $$
DECLARE
  v_now BIGINT := __S__.now_ms();
  v_count INTEGER;
BEGIN
  PERFORM set_config('synchronous_commit', 'off', true);
  UPDATE __S__.sessions SET locked_until = v_now + p_extend_ms
   WHERE worker_id = ANY (p_owners) AND locked_until > v_now AND last_activity_at > v_now - p_idle_ms;
  GET DIAGNOSTICS v_count = ROW_COUNT;
  RETURN v_count;
END $$;

CREATE OR REPLACE FUNCTION __S__.cleanup_sessions() RETURNS INTEGER
LANGUAGE plpgsql ${LOOKUP_SETTINGS} AS $$
DECLARE
  v_now BIGINT := __S__.now_ms();
  v_count INTEGER;
BEGIN
  DELETE FROM __S__.sessions AS s WHERE s.locked_until <= v_now
     AND NOT EXISTS (SELECT 1 FROM __S__.worker_queue AS w WHERE w.session_id = s.session_id);
  GET DIAGNOSTICS v_count = ROW_COUNT;
  RETURN v_count;
END $$;

-- Moves one row that cannot be decoded to dead_letters, so it never blocks a queue again.
CREATE OR REPLACE FUNCTION __S__.dead_letter(p_queue TEXT, p_token TEXT, p_item TEXT, p_error TEXT) RETURNS void
LANGUAGE plpgsql ${LOOKUP_SETTINGS} AS $$
DECLARE v_now BIGINT := __S__.now_ms();
BEGIN
  IF p_queue = 'worker' THEN
    WITH gone AS (DELETE FROM __S__.worker_queue WHERE id = __S__.token_row(p_token) AND lock_token = p_token RETURNING work_item)
    INSERT INTO __S__.dead_letters (queue, instance_id, work_item, error, created_at) SELECT 'worker', NULL, work_item, p_error, v_now FROM gone;
  ELSE
    WITH gone AS (DELETE FROM __S__.orchestrator_queue
                   WHERE instance_id = (SELECT instance_id FROM __S__.instance_locks WHERE lock_token = p_token)
                     AND lock_token = p_token AND work_item = p_item
                  RETURNING instance_id, work_item)
    INSERT INTO __S__.dead_letters (queue, instance_id, work_item, error, created_at) SELECT 'orchestrator', instance_id, work_item, p_error, v_now FROM gone;
  END IF;
END $$;
`;

/**
 * The migrations, in order. Tables change by adding a migration with the DDL. Functions change by
 * adding a migration that re-creates all of them (FUNCTIONS, every one CREATE OR REPLACE; drop a
 * function first when its signature changes) and emptying the function part of the earlier
 * migration that installed them: every schema below the new version runs the new one anyway, so
 * the earlier function text would only be replaced. FUNCTIONS is always the current text.
 */
export const MIGRATIONS: readonly Migration[] = [
  { version: 1, description: "tables and indexes", sql: TABLES },
  // Version 2 installed the functions; each later version re-creates all of them (§16.2), so
  // versions 2 to 8 now have nothing left to do.
  { version: 2, description: "hot-path functions: capability filter checked per candidate, planner settings as a SET clause", sql: "" },
  { version: 3, description: "fetch_orch_tail: a turn reads the tail of a long history, not all of it", sql: "" },
  { version: 4, description: "hand-offs: a write claims the work it makes for a fetch parked in the same process", sql: "" },
  { version: 5, description: "start_ack_orch and hold_start: a start committed with its first turn", sql: "" },
  { version: 6, description: "start_ack_orch and hold_start: a start with a visible message waiting goes through the queue", sql: "" },
  { version: 7, description: "lock_new_instance: the rule start_ack_orch and hold_start share, in one function", sql: "" },
  { version: 8, description: "fetch_work_ahead: a worker fetch that finds work claims more ahead for this process; claim_work_ahead: claims ahead in one statement, for fetches and acks; ack_work_many in one statement; fetch_orch_tail: a fetch passes over the instances its caller holds", sql: "" },
  { version: 9, description: "work_takable: the one rule of every worker pick (fetch_work, claim_work_ahead)", sql: FUNCTIONS },
];

/** The newest schema version this code knows. */
export const SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1]!.version;
