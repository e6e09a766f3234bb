import { Clock } from '../../src/common/clock';

/** A clock that only moves when a test moves it, so times in answers are exact. */
export class ManualClock extends Clock {
  constructor(private current = Date.UTC(2030, 0, 2, 3, 4, 5, 678)) {
    super();
  }

  now(): number {
    return this.current;
  }

  advance(ms: number): number {
    this.current += ms;
    return this.current;
  }
}
