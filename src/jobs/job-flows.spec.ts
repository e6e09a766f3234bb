import { findCycle } from './job-flows';

describe('findCycle', () => {
  it.each([
    ['no dependencies', [{ id: 'a' }, { id: 'b' }], undefined],
    ['a chain in any order', [{ id: 'c', after: ['b'] }, { id: 'a' }, { id: 'b', after: ['a'] }], undefined],
    ['a diamond', [{ id: 'd', after: ['b', 'c'] }, { id: 'b', after: ['a'] }, { id: 'c', after: ['a'] }, { id: 'a' }], undefined],
    ['ids outside the request', [{ id: 'b', after: ['x', 'y'] }], undefined],
    ['a job waiting on itself', [{ id: 'a', after: ['a'] }], ['a', 'a']],
    ['two jobs', [{ id: 'a', after: ['b'] }, { id: 'b', after: ['a'] }], ['a', 'b', 'a']],
    ['a cycle below a tail', [{ id: 't', after: ['a'] }, { id: 'a', after: ['b'] }, { id: 'b', after: ['c'] }, { id: 'c', after: ['a'] }], ['a', 'b', 'c', 'a']],
  ])('%s', (_name, jobs, cycle) => {
    expect(findCycle(jobs)).toEqual(cycle);
  });

  it('walks a chain of 100,000 jobs without running out of stack', () => {
    const jobs = Array.from({ length: 100_000 }, (_, i) => ({ id: `j${i}`, after: i > 0 ? [`j${i - 1}`] : [] }));
    expect(findCycle(jobs)).toBeUndefined();
    jobs[0].after = ['j99999'];
    expect(findCycle(jobs)?.length).toBe(100_001);
  });
});
