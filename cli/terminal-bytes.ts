import { escapeControls } from './terminal-text';

const EMPTY = Buffer.alloc(0);

/**
 * A job's output bytes as a terminal (or a web page) may show them: decoded as UTF-8, each byte
 * that is not part of a valid UTF-8 sequence shown as `\xff`, and controls escaped by
 * escapeControls, so nothing in the output reaches the terminal raw. Fed piece by piece, as
 * output arrives: a character split between two pieces is held until the rest of it comes.
 */
export class VisibleText {
  private held: Buffer = EMPTY;

  write(bytes: Buffer): string {
    const { text, rest } = decodeUtf8(this.held.length > 0 ? Buffer.concat([this.held, bytes]) : bytes, false, hexEscapes);
    this.held = Buffer.from(rest);
    return escapeControls(text);
  }

  /** What is still held (an incomplete character at the very end), escaped. */
  end(): string {
    const { text } = decodeUtf8(this.held, true, hexEscapes);
    this.held = EMPTY;
    return escapeControls(text);
  }
}

/** The visible form of a whole piece of output (see VisibleText). */
export function visibleText(bytes: Buffer): string {
  const text = new VisibleText();
  return text.write(bytes) + text.end();
}

function hexEscapes(bytes: Buffer): string {
  let out = '';
  for (const b of bytes) out += `\\x${b.toString(16).padStart(2, '0')}`;
  return out;
}

/**
 * Decodes UTF-8, handing each ill-formed part to `invalid`: the same parts for which the WHATWG
 * decoder (TextDecoder, Buffer#toString) writes one U+FFFD each, so with `() => '\ufffd'` the
 * result is exactly theirs. Unless `final`, an incomplete sequence at the end is returned as
 * `rest` to be completed by the next piece.
 */
export function decodeUtf8(data: Buffer, final: boolean, invalid: (bytes: Buffer) => string): { text: string; rest: Buffer } {
  let text = '';
  let valid = 0;
  let i = 0;
  while (i < data.length) {
    if (data[i] < 0x80) {
      i++;
      continue;
    }
    const n = sequenceAt(data, i);
    if (n > 0) {
      i += n;
      continue;
    }
    if (n === 0 && !final) return { text: text + data.toString('utf8', valid, i), rest: data.subarray(i) };
    const bad = n === 0 ? data.length - i : -n;
    text += data.toString('utf8', valid, i) + invalid(data.subarray(i, i + bad));
    i += bad;
    valid = i;
  }
  return { text: text + data.toString('utf8', valid, i), rest: EMPTY };
}

/**
 * At a byte of 0x80 or more: the length of the valid sequence that starts there; minus the length
 * of the ill-formed part (the lead byte and the continuation bytes that fit it) when it is not
 * valid; 0 when the data ends before the sequence does. Ranges of the second byte rule out
 * overlong forms, surrogates and code points past U+10FFFF (Unicode, table 3-7).
 */
function sequenceAt(data: Buffer, i: number): number {
  const lead = data[i];
  let need: number;
  let lo = 0x80;
  let hi = 0xbf;
  if (lead >= 0xc2 && lead <= 0xdf) need = 1;
  else if (lead >= 0xe0 && lead <= 0xef) {
    need = 2;
    if (lead === 0xe0) lo = 0xa0;
    if (lead === 0xed) hi = 0x9f;
  } else if (lead >= 0xf0 && lead <= 0xf4) {
    need = 3;
    if (lead === 0xf0) lo = 0x90;
    if (lead === 0xf4) hi = 0x8f;
  } else return -1;
  for (let k = 1; k <= need; k++) {
    if (i + k >= data.length) return 0;
    const b = data[i + k];
    if (b < lo || b > hi) return -k;
    lo = 0x80;
    hi = 0xbf;
  }
  return need + 1;
}
