import { InvalidArgumentError } from 'commander';
import { collectEnv, collectIds, integerParser, parseDuration, parseJobJson, parseTime, parseWholeSeconds } from './input';

describe('parseDuration', () => {
  it.each([
    ['30', 30],
    ['30s', 30],
    ['5m', 300],
    ['2h', 7200],
    ['1d', 86400],
    ['7d', 604800],
    ['1w', 604800],
    ['1.5m', 90],
    [' 2H ', 7200],
  ])('%s is %d seconds', (text, seconds) => {
    expect(parseDuration(text)).toBe(seconds);
  });

  it.each(['', 'soon', '-5m', '5 minutes', '5x', '1e3', 'm'])('refuses %p', (text) => {
    expect(() => parseDuration(text)).toThrow(InvalidArgumentError);
  });

  it('rounds to whole seconds for the API', () => {
    expect(parseWholeSeconds('1.6')).toBe(2);
  });
});

describe('integerParser', () => {
  const retries = integerParser(0, 1000);
  it.each([
    ['0', 0],
    ['3', 3],
    ['1000', 1000],
  ])('accepts %s', (text, n) => expect(retries(text)).toBe(n));
  it.each(['-1', '1.5', '', 'three', '3x', '1001'])('refuses %p', (text) => {
    expect(() => retries(text)).toThrow(InvalidArgumentError);
  });
  it('accepts negative numbers when the range allows them', () => {
    expect(integerParser(-10, 10)('-7')).toBe(-7);
  });
});

describe('parseTime', () => {
  it('passes an ISO-8601 UTC time through as UTC', () => {
    expect(parseTime('2030-01-02T03:04:05Z')).toBe('2030-01-02T03:04:05.000Z');
  });
  it('turns an offset into UTC', () => {
    expect(parseTime('2030-01-02T03:04:05+02:00')).toBe('2030-01-02T01:04:05.000Z');
  });
  it('reads a time without a zone as local time', () => {
    expect(parseTime('2030-01-02T03:04:05')).toBe(new Date(2030, 0, 2, 3, 4, 5).toISOString());
  });
  it.each(['', 'tomorrow', '2030-13-45'])('refuses %p', (text) => {
    expect(() => parseTime(text)).toThrow(InvalidArgumentError);
  });
});

describe('parseJobJson', () => {
  it('reads one job object', () => {
    expect(parseJobJson('{"id":"a","command":"echo hi"}')).toEqual({ jobs: [{ id: 'a', command: 'echo hi' }], batch: false });
  });
  it('reads an array of jobs as a batch', () => {
    expect(parseJobJson('[{"command":"a"},{"command":"b"}]')).toEqual({ jobs: [{ command: 'a' }, { command: 'b' }], batch: true });
  });
  it.each([
    ['echo hi', /not valid JSON/],
    ['{"command":', /not valid JSON/],
    ['"echo hi"', /must be a JSON object/],
    ['42', /must be a JSON object/],
    ['null', /must be a JSON object/],
    ['[]', /empty/],
    ['[{"command":"a"}, 3]', /job 1 of the list/],
  ])('refuses %p', (text, reason) => {
    const result = parseJobJson(text);
    expect('error' in result && result.error).toMatch(reason);
  });
});

describe('--env and --after', () => {
  it('collects NAME=VALUE pairs, the value kept whole (= and spaces included), a later NAME winning', () => {
    const env = ['A=1', 'URL=postgres://u@h/db?x=y', 'EMPTY=', 'A=2'].reduce<Record<string, string>>((acc, text) => collectEnv(text, acc), {});
    expect(env).toEqual({ A: '2', URL: 'postgres://u@h/db?x=y', EMPTY: '' });
  });

  it.each(['NAME', '=value', ''])('refuses %p', (text) => {
    expect(() => collectEnv(text)).toThrow(InvalidArgumentError);
  });

  it('collects ids given with commas and repeated', () => {
    expect(collectIds('c', collectIds('a, b'))).toEqual(['a', 'b', 'c']);
  });

  it.each(['', 'a,', ',a', 'a,,b'])('refuses %p', (text) => {
    expect(() => collectIds(text)).toThrow(InvalidArgumentError);
  });
});
