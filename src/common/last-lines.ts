/**
 * The last `n` lines of a text (a trailing newline does not start a line of its own). Plain
 * code, shared by the service (`?tail=`) and the CLI (`logs --tail --follow`).
 */
export function lastLines(text: string, n: number): string {
  if (n <= 0) return '';
  let pos = text.endsWith('\n') ? text.length - 1 : text.length;
  for (let i = 0; i < n; i++) {
    if (pos <= 0) return text;
    const nl = text.lastIndexOf('\n', pos - 1);
    if (nl < 0) return text;
    pos = nl;
  }
  return text.slice(pos + 1);
}
