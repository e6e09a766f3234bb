import { VisibleText, decodeUtf8, visibleText } from './terminal-bytes';
import { escapeControls } from './terminal-text';

describe('escapeControls', () => {
  it.each([
    ['plain text, unicode ✓ and emoji 🚀', 'plain text, unicode ✓ and emoji 🚀'],
    ['lines\nand\ttabs stay', 'lines\nand\ttabs stay'],
    ['\u001b[31mred\u001b[0m', '\\x1b[31mred\\x1b[0m'],
    ['\u001b]0;title\u0007', '\\x1b]0;title\\x07'],
    ['nul\u0000 cr\r bs\b del\u007f', 'nul\\x00 cr\\x0d bs\\x08 del\\x7f'],
    ['c1 \u009b2J \u0085 \u0080', 'c1 \\x9b2J \\x85 \\x80'],
    ['\u00a0 after C1 stays', '\u00a0 after C1 stays'],
  ])('%j', (text, shown) => {
    expect(escapeControls(text)).toBe(shown);
  });
});

/** A fixed sequence of pseudo-random bytes (xorshift), so failures can be reproduced. */
function randomBytes(seed: number, length: number, from: number[]): Buffer {
  let x = seed;
  const out = Buffer.alloc(length);
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = from[(x >>> 0) % from.length];
  }
  return out;
}

// Bytes that make every kind of sequence likely: ASCII, leads of each length, continuations, and
// the leads whose second byte has a narrower range (E0, ED, F0, F4), and bytes never valid.
const ALPHABET = [0x41, 0x0a, 0x00, 0x1b, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc1, 0xc2, 0xdf, 0xe0, 0xe1, 0xed, 0xee, 0xef, 0xf0, 0xf1, 0xf4, 0xf5, 0xff];

describe('decodeUtf8', () => {
  it('finds the same ill-formed parts as the WHATWG decoder, on 2,000 random byte strings', () => {
    for (let seed = 1; seed <= 2000; seed++) {
      const bytes = randomBytes(seed, 1 + (seed % 40), ALPHABET);
      expect({ seed, text: decodeUtf8(bytes, true, () => '\ufffd').text }).toEqual({ seed, text: bytes.toString('utf8') });
    }
  });

  it('holds back a sequence cut at the end unless it is the end', () => {
    const rocket = Buffer.from('🚀');
    expect(decodeUtf8(Buffer.concat([Buffer.from('a'), rocket.subarray(0, 2)]), false, () => '?')).toEqual({ text: 'a', rest: rocket.subarray(0, 2) });
    expect(decodeUtf8(rocket.subarray(0, 2), true, () => '?').text).toBe('?');
  });
});

describe('VisibleText', () => {
  it('shows invalid bytes and controls escaped, and everything else as it is', () => {
    const bytes = Buffer.concat([Buffer.from('ok ✓ 🚀 '), Buffer.from([0xff, 0xfe, 0x00, 0x1b]), Buffer.from('[2J \u009b end\n')]);
    expect(visibleText(bytes)).toBe('ok ✓ 🚀 \\xff\\xfe\\x00\\x1b[2J \\x9b end\n');
  });

  it('an ill-formed sequence shows each of its bytes', () => {
    // E0 80: E0 needs A0..BF next, so E0 alone is ill-formed, then 80 alone.
    expect(visibleText(Buffer.from([0xe0, 0x80, 0x41]))).toBe('\\xe0\\x80A');
    // F0 9F 9A is a rocket cut short by a space.
    expect(visibleText(Buffer.from([0xf0, 0x9f, 0x9a, 0x20]))).toBe('\\xf0\\x9f\\x9a ');
  });

  it('gives the same text however the bytes are split into pieces', () => {
    const bytes = Buffer.concat([Buffer.from('a🚀b✓c'), Buffer.from([0xf0, 0x9f]), Buffer.from('é\u001b'), Buffer.from([0xed, 0xa0, 0x80])]);
    const whole = visibleText(bytes);
    for (let cut1 = 0; cut1 <= bytes.length; cut1++) {
      for (let cut2 = cut1; cut2 <= bytes.length; cut2++) {
        const text = new VisibleText();
        const shown = text.write(bytes.subarray(0, cut1)) + text.write(bytes.subarray(cut1, cut2)) + text.write(bytes.subarray(cut2)) + text.end();
        expect({ cut1, cut2, shown }).toEqual({ cut1, cut2, shown: whole });
      }
    }
  });
});
