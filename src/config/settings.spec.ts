import { checkSettings, defaultSettings, normaliseKey, parseSetting, similarKeys } from './settings';

describe('settings', () => {
  it('normalises underscores and case', () => {
    expect(normaliseKey('max_retries')).toBe('max-retries');
    expect(normaliseKey('Backoff-Base')).toBe('backoff-base');
    expect(normaliseKey('nope')).toBeUndefined();
  });

  it('takes the same words in another order as the one key they name', () => {
    expect(normaliseKey('base_backoff')).toBe('backoff-base');
    expect(normaliseKey('timeout-job')).toBe('job-timeout');
    expect(normaliseKey('backoff')).toBeUndefined();
    expect(normaliseKey('max')).toBeUndefined();
  });

  it('finds the keys that share a word with an unknown one', () => {
    expect(similarKeys('retries')).toEqual(['max-retries']);
    expect(similarKeys('timeout')).toEqual(['job-timeout', 'lease-timeout']);
    expect(similarKeys('colour')).toEqual([]);
  });

  it.each([
    ['max-retries', '5', 5],
    ['max-retries', 7, 7],
    ['max-retries', '-1', 'max-retries must be an integer from 0 to 1000 (got -1)'],
    ['max-retries', '1.5', 'max-retries must be an integer from 0 to 1000 (got 1.5)'],
    ['max-retries', 'abc', 'max-retries must be an integer from 0 to 1000'],
    ['max-retries', '', 'max-retries must be an integer from 0 to 1000'],
    ['backoff-base', '1.5', 1.5],
    ['backoff-base', '0.5', 'backoff-base must be a number from 1 to 100 (got 0.5)'],
    ['job-timeout', '0', 0],
  ] as const)('%s = %p gives %p', (key, raw, expected) => {
    expect(parseSetting(key, raw)).toBe(expected);
  });

  it('keeps the lease at least twice the heartbeat', () => {
    expect(checkSettings(defaultSettings())).toBeUndefined();
    expect(checkSettings({ ...defaultSettings(), 'lease-timeout': 9, 'heartbeat-interval': 5 })).toMatch(/at least 2/);
  });
});
