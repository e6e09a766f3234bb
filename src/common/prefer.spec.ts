import { prefersMinimal } from './prefer';

describe('prefersMinimal', () => {
  it.each<[string | undefined, boolean]>([
    ['return=minimal', true],
    [' return = minimal ', true],
    ['respond-async, return=minimal; handling=strict', true],
    ['RETURN="minimal"', true],
    ['wait=5,return=minimal', true],
    ['return=representation', false],
    ['return=representation, return=minimal', false],
    ['return=minimal2', false],
    ['return', false],
    ['minimal', false],
    ['', false],
    [undefined, false],
  ])('%j → %s', (header, expected) => {
    expect(prefersMinimal(header)).toBe(expected);
  });
});
