/**
 * A small seeded pseudo-random generator (mulberry32) for test tools that must be reproducible:
 * the same seed gives the same sequence, so a fault schedule or a kill schedule that broke
 * something can be replayed by passing its seed again.
 */

/** Returns numbers in [0, 1), the same sequence for the same 32-bit `seed`. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** Mixes a seed with a label (FNV-1a over the label), so each label gets its own stream from one seed. */
export function deriveSeed(seed: number, label: string): number {
  let h = (0x811c9dc5 ^ (seed >>> 0)) >>> 0;
  for (let i = 0; i < label.length; i++) {
    h ^= label.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  // One mulberry step so that nearby seeds and labels do not give nearby streams.
  return Math.floor(seededRandom(h)() * 4_294_967_296) >>> 0;
}

/** A fresh random 32-bit seed, for runs that did not ask for one (print it so the run can be repeated). */
export function randomSeed(): number {
  return crypto.getRandomValues(new Uint32Array(1))[0]!;
}
