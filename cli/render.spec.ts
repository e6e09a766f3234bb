import { duration, relativeTime, shorten, table } from './render';

describe('relativeTime', () => {
  const now = Date.parse('2030-01-01T12:00:00Z');
  it.each([
    ['2030-01-01T11:59:55Z', '5s ago'],
    ['2030-01-01T11:58:00Z', '2m 00s ago'],
    ['2030-01-01T14:30:00Z', 'in 2h 30m'],
    ['2030-01-04T12:00:00Z', 'in 3d 0h'],
    ['2030-01-01T12:00:00.300Z', 'now'],
  ])('%s is %s', (iso, text) => expect(relativeTime(iso, now)).toBe(text));
  it('shows a dash for no time', () => expect(relativeTime(null, now)).toBe('-'));
});

describe('duration', () => {
  it.each([
    [850, '850ms'],
    [1500, '1.5s'],
    [42_000, '42s'],
    [65_000, '1m 05s'],
    [3_600_000 * 2 + 60_000 * 10, '2h 10m'],
  ])('%d ms is %s', (ms, text) => expect(duration(ms)).toBe(text));
});

it('shortens a multi-line command to one line', () => {
  expect(shorten('echo a\n  echo b', 60)).toBe('echo a echo b');
  expect(shorten('x'.repeat(100), 10)).toBe(`${'x'.repeat(9)}…`);
});

it('aligns columns without borders, colours or trailing spaces', () => {
  const text = table(['id', 'state'], [['a-long-id', 'pending'], ['b', 'dead']]);
  expect(text.split('\n')).toEqual(['ID         STATE', 'a-long-id  pending', 'b          dead']);
});
