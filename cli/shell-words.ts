/**
 * `run -- <words…>`: the words a person typed, already split by their shell, become one
 * `/bin/sh -c` command line that gives the command the same words back. A word made only of
 * characters no shell treats specially stays as it is, so `run -- ls -la /tmp` stores
 * `ls -la /tmp`; any other word is put in single quotes, inside which /bin/sh takes every byte
 * literally, a single quote itself written as '\'' (close, escaped quote, reopen).
 */
const PLAIN_WORD = /^[A-Za-z0-9_@%+=:,./-]+$/;

export function shellQuote(word: string): string {
  if (PLAIN_WORD.test(word)) return word;
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/**
 * One word is taken as a whole command line (`run 'echo a | tr a A'`, a pipe for the shell);
 * several are quoted one by one.
 */
export function commandLine(words: string[]): string {
  return words.length === 1 ? words[0] : words.map(shellQuote).join(' ');
}
