import { lastLines } from './last-lines';

describe('lastLines', () => {
  it.each([
    ['a\nb\nc\n', 2, 'b\nc\n'],
    ['a\nb\nc', 2, 'b\nc'],
    ['a\nb\nc\n', 3, 'a\nb\nc\n'],
    ['a\nb\nc\n', 10, 'a\nb\nc\n'],
    ['a\nb\nc\n', 0, ''],
    ['', 3, ''],
    ['\nabc', 1, 'abc'],
    ['\nabc', 5, '\nabc'],
    ['one line', 1, 'one line'],
  ])('%j, %i → %j', (text, n, expected) => {
    expect(lastLines(text, n)).toBe(expected);
  });
});
