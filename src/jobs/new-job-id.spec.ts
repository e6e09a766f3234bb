import { JOB_ID_PATTERN } from './dto/enqueue-job.dto';
import { newJobId } from './jobs.service';

describe('newJobId', () => {
  it('is a valid job id that sorts by creation time', () => {
    const times = [Date.UTC(2026, 0, 1), Date.UTC(2026, 0, 1) + 1, Date.UTC(2031, 5, 1), Date.UTC(2099, 11, 31)];
    const ids = times.map((t) => newJobId(t));
    for (const id of ids) expect(id).toMatch(JOB_ID_PATTERN);
    expect([...ids].sort()).toEqual(ids);
    expect(new Set(Array.from({ length: 1000 }, () => newJobId(times[0]))).size).toBe(1000);
  });
});
