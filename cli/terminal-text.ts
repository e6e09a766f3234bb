/**
 * Text from jobs (commands, output, errors) shown on a terminal must not drive it: an escape
 * sequence in it could move the cursor, rewrite what is on screen, or set the window title.
 * C0 controls other than newline and tab, DEL, and C1 controls (U+0080–U+009F) are shown as
 * `\x1b`-style escapes (lower-case hex); everything else is left as it is.
 */
const CONTROLS = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g;

export function escapeControls(text: string): string {
  return text.replace(CONTROLS, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}
