/**
 * Incremental history reads for the orchestrator fetch (docs/provider-contract.md §16.7).
 *
 * A fetch returns at most the last HISTORY_TAIL events of the execution. When that is not all of
 * it, the earlier events come from what this provider object decoded on an earlier fetch of the
 * same instance: the tail must contain, byte for byte, the last event held (its text names its
 * event id, type and time), which proves the held events are the execution's prefix. Anything else
 * (a first fetch here, an instance last run by another process for more than a tail's worth of
 * events, an instance deleted and started again) reads the whole history in a second query. So a
 * turn of a long-running instance moves and decodes only its new events, and short histories (the
 * common case) arrive whole in the fetch itself.
 */
import { decodeEvent, type Event } from "../../core/events.ts";

/** Events a fetch returns at most; shorter histories come whole. */
export const HISTORY_TAIL = 100;

/**
 * Decoded events held in all, least recently fetched instances dropped first. Only histories of at
 * least half a tail are held: a shorter one arrives whole in its next fetch anyway.
 */
const HELD_EVENTS = 200_000;
const HOLD_FROM = HISTORY_TAIL / 2;

interface Held {
  executionId: number;
  events: Event[];
  /** The stored text of the last event, to find it in a fetched tail. */
  lastText: string;
}

/** What a fetch found: the history, or that it must be read whole. */
export type Assembled = { events: Event[] } | { readWhole: true };

export class HistoryTails {
  private readonly held = new Map<string, Held>();
  private heldEvents = 0;

  /**
   * The execution's history from a fetched tail (`complete`: the tail is all of it). Throws what
   * decodeEvent throws for an unreadable event (the caller turns it into the batch's history_error).
   */
  assemble(instance: string, executionId: number, tail: string[], complete: boolean): Assembled {
    if (complete) return { events: this.keep(instance, executionId, tail.map((t) => decodeEvent(t)), tail) };
    const h = this.held.get(instance);
    if (h !== undefined && h.executionId === executionId) {
      const at = tail.lastIndexOf(h.lastText);
      if (at >= 0) {
        // Decoded before anything is appended: an unreadable event leaves the held prefix as it was.
        const newer = tail.slice(at + 1).map((t) => decodeEvent(t));
        return { events: this.keep(instance, executionId, h.events.concat(newer), tail) };
      }
    }
    this.drop(instance);
    return { readWhole: true };
  }

  /** Holds a history read whole (after `readWhole`). */
  whole(instance: string, executionId: number, texts: string[]): Event[] {
    return this.keep(instance, executionId, texts.map((t) => decodeEvent(t)), texts);
  }

  /** Forgets one instance (deleted, pruned, finished here), or all. */
  forget(instance?: string): void {
    if (instance !== undefined) return this.drop(instance);
    this.held.clear();
    this.heldEvents = 0;
  }

  /** Instances and events held; for tests. */
  get size(): { instances: number; events: number } {
    return { instances: this.held.size, events: this.heldEvents };
  }

  /** Holds `events` (ending with the text `texts.at(-1)`) and returns a copy the caller may keep. */
  private keep(instance: string, executionId: number, events: Event[], texts: string[]): Event[] {
    this.drop(instance); // re-inserted last: the most recently used
    const lastText = texts.at(-1);
    if (lastText !== undefined && events.length >= HOLD_FROM && events.length <= HELD_EVENTS) {
      this.held.set(instance, { executionId, events, lastText });
      this.heldEvents += events.length;
      while (this.heldEvents > HELD_EVENTS) this.drop(this.held.keys().next().value as string);
    }
    return events.slice();
  }

  private drop(instance: string): void {
    const h = this.held.get(instance);
    if (h === undefined) return;
    this.held.delete(instance);
    this.heldEvents -= h.events.length;
  }
}
