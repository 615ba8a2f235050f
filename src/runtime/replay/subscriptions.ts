/**
 * Who waits for which named event or queue, and the queue messages no dequeue has taken yet.
 * Deliveries carry no source event id, so they are matched here by name, in order.
 */
import { decodePayload } from "../../core/payload.ts";
import type { LeafTask } from "../tasks.ts";

function listFor<T>(m: Map<string, T[]>, name: string): T[] {
  let l = m.get(name);
  if (l === undefined) m.set(name, (l = []));
  return l;
}

export class Subscriptions {
  private readonly waits = new Map<string, LeafTask<unknown>[]>();
  private readonly dequeues = new Map<string, LeafTask<unknown>[]>();
  private readonly arrivals = new Map<string, string[]>();

  wait(name: string, task: LeafTask<unknown>): void {
    listFor(this.waits, name).push(task);
  }

  dequeue(name: string, task: LeafTask<unknown>): void {
    listFor(this.dequeues, name).push(task);
    this.matchQueue(name);
  }

  deliverEvent(name: string, data: string): void {
    // The first live subscription for this name gets it; cancelled ones do not consume events.
    const waiting = this.waits.get(name);
    let task = waiting?.shift();
    while (task && task.settled) task = waiting?.shift();
    if (task) task.settle({ ok: true, value: decodePayload(data) });
  }

  /** A message carried over from the previous execution; it comes before any dequeue is bound. */
  carryIn(name: string, data: string): void {
    listFor(this.arrivals, name).push(data);
  }

  enqueue(name: string, data: string): void {
    listFor(this.arrivals, name).push(data);
    this.matchQueue(name);
  }

  remove(task: LeafTask<unknown>): void {
    for (const m of [this.waits, this.dequeues]) {
      for (const list of m.values()) {
        const i = list.indexOf(task);
        if (i >= 0) list.splice(i, 1);
      }
    }
  }

  /** Queue messages no dequeue took, by queue in first-arrival order, then by arrival. */
  unconsumed(): [string, string][] {
    const out: [string, string][] = [];
    for (const [name, list] of this.arrivals) for (const data of list) out.push([name, data]);
    return out;
  }

  /** Pairs queue arrivals with waiting dequeues, FIFO on both sides. */
  private matchQueue(name: string): void {
    const arrivals = this.arrivals.get(name);
    const subs = this.dequeues.get(name);
    while (arrivals && subs && arrivals.length > 0 && subs.length > 0) {
      const task = subs.shift()!;
      if (task.settled) continue; // a cancelled dequeue does not consume
      const data = arrivals.shift()!;
      task.settle({ ok: true, value: decodePayload(data) });
    }
  }
}
