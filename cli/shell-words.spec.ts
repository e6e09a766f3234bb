import { spawnSync } from 'node:child_process';
import { commandLine, shellQuote } from './shell-words';

/** What /bin/sh makes of a command line: the words it passes to a program. */
function wordsSeenBySh(line: string): string[] {
  const out = spawnSync('/bin/sh', ['-c', `set -- ${line}; for w in "$@"; do printf '%s\\0' "$w"; done`], { encoding: 'utf8' });
  return out.stdout.split('\0').slice(0, -1);
}

describe('shellQuote', () => {
  it.each([
    ['ls', 'ls'],
    ['--full', '--full'],
    ['/tmp/a.txt', '/tmp/a.txt'],
    ['my db', `'my db'`],
    ["it's", `'it'\\''s'`],
    ['', `''`],
    ['$HOME', `'$HOME'`],
  ])('%p is written %p', (word, quoted) => expect(shellQuote(word)).toBe(quoted));
});

describe('commandLine', () => {
  it('takes one word as a whole command line', () => {
    expect(commandLine(['echo a | tr a A'])).toBe('echo a | tr a A');
  });

  it('gives /bin/sh back the very words, whatever they hold', () => {
    const words = ['--full', 'my db', "it's", '', '$HOME `id` $(id)', 'a\\b', '"q"', '!x', '*', 'tab\there', 'new\nline', 'héllo ✓', '~', '#no-comment', ';&|<>(){}'];
    expect(wordsSeenBySh(commandLine(words))).toEqual(words);
  });
});
