import prand from 'pure-rand';

/** A seeded random source: the same seed plans the same jobs and the same faults. */
export class Rng {
  private readonly gen;

  constructor(seed: number) {
    this.gen = prand.xoroshiro128plus(seed);
  }

  /** A whole number from min to max, both included. */
  int(min: number, max: number): number {
    return prand.unsafeUniformIntDistribution(min, max, this.gen);
  }

  /** A number in [0, 1). */
  fraction(): number {
    return this.int(0, 2 ** 30 - 1) / 2 ** 30;
  }

  between(min: number, max: number): number {
    return min + (max - min) * this.fraction();
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(0, items.length - 1)];
  }

  weighted<T extends { weight: number }>(items: readonly T[]): T {
    let left = this.fraction() * items.reduce((sum, i) => sum + i.weight, 0);
    for (const item of items) {
      left -= item.weight;
      if (left < 0) return item;
    }
    return items[items.length - 1];
  }
}
