/**
 * Group commit across callers: requests made while a batch is in flight wait and go together in
 * the next one, one round trip and one transaction for all of them. Under load the batch grows to
 * what arrived during one commit; a lone request goes at once (after the current microtask, so
 * that requests of the same tick share it).
 *
 * Each request has its own outcome: `send` reports per request, so one that fails (a lost lock)
 * does not fail the others. A failure of the whole call (connection lost) rejects every request
 * of that batch with it; none of them committed unless the server did, as for a single call.
 */
export type Outcome<R> = { ok: true; value: R } | { ok: false; error: unknown };

interface Request<I, R> {
  input: I;
  resolve: (value: R) => void;
  reject: (error: unknown) => void;
}

export class Batcher<I, R> {
  private queue: Request<I, R>[] = [];
  private inFlight = 0;
  private scheduled = false;

  constructor(
    /** Sends one batch; returns one outcome per input, in order. */
    private readonly send: (inputs: I[]) => Promise<Outcome<R>[]>,
    private readonly maxBatch: number,
    private readonly maxInFlight = 1,
  ) {}

  submit(input: I): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.queue.push({ input, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        queueMicrotask(() => {
          this.scheduled = false;
          this.pump();
        });
      }
    });
  }

  private pump(): void {
    while (this.inFlight < this.maxInFlight && this.queue.length > 0) {
      const batch = this.queue.splice(0, this.maxBatch);
      this.inFlight++;
      this.run(batch).finally(() => {
        this.inFlight--;
        this.pump();
      });
    }
  }

  private async run(batch: Request<I, R>[]): Promise<void> {
    let outcomes: Outcome<R>[];
    try {
      outcomes = await this.send(batch.map((r) => r.input));
    } catch (err) {
      for (const r of batch) r.reject(err);
      return;
    }
    batch.forEach((r, i) => {
      const o = outcomes[i];
      if (o === undefined) r.reject(new Error(`batch answered ${outcomes.length} of ${batch.length} requests`));
      else if (o.ok) r.resolve(o.value);
      else r.reject(o.error);
    });
  }
}
