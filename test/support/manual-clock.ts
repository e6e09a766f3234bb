import { Clock } from '../../src/common/clock';

/** A clock that only moves when a test moves it, so times in answers are exact. */
export class ManualClock extends Clock {
  private elapsed = 0;

  constructor(private current = Date.UTC(2030, 0, 2, 3, 4, 5, 678)) {
    super();
  }

  now(): number {
    return this.current;
  }

  monotonic(): number {
    return this.elapsed;
  }

  /** Time passes: both clocks move. */
  advance(ms: number): number {
    this.current += ms;
    this.elapsed += ms;
    return this.current;
  }

  /** The wall clock is set (NTP, an operator): only it moves, by `ms` either way. */
  jumpWall(ms: number): number {
    this.current += ms;
    return this.current;
  }
}
