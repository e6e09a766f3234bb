// Jest globalSetup and globalTeardown: the test run must leave the git work tree as it found it.
// Plain JavaScript, as Jest loads these two before any TypeScript transform is set up.
const { execFileSync } = require('node:child_process');
const { createHash } = require('node:crypto');
const { readFileSync, statSync } = require('node:fs');
const { join, resolve } = require('node:path');

const ROOT = resolve(__dirname, '..', '..');

/**
 * What `git status` lists (changed, added, deleted and untracked files) with a hash of each
 * listed file's contents, so a test that rewrites a file the developer had already changed is
 * caught too. Null outside a git work tree (an unpacked tarball): nothing to compare.
 */
function workTreeState() {
  let listing;
  try {
    listing = execFileSync('git', ['status', '--porcelain=v1', '-z', '--untracked-files=all'], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  } catch {
    return null;
  }
  const state = new Map();
  const entries = listing.split('\0').filter(Boolean);
  for (let i = 0; i < entries.length; i++) {
    const status = entries[i].slice(0, 2);
    const path = entries[i].slice(3);
    // A rename is followed by its old path.
    if (status.includes('R') || status.includes('C')) i++;
    state.set(path, `${status} ${contentHash(join(ROOT, path))}`);
  }
  return state;
}

function contentHash(file) {
  try {
    if (!statSync(file).isFile()) return 'not a file';
    return createHash('sha256').update(readFileSync(file)).digest('hex');
  } catch {
    return 'absent';
  }
}

function setup() {
  globalThis.__workTreeBefore = workTreeState();
}

function teardown() {
  const before = globalThis.__workTreeBefore;
  const after = workTreeState();
  if (!before || !after) return;
  const changed = [...new Set([...before.keys(), ...after.keys()])].filter((p) => before.get(p) !== after.get(p)).sort();
  if (changed.length > 0) {
    throw new Error(`the tests changed the work tree (restore with git checkout, or delete what they left): ${changed.join(', ')}`);
  }
}

module.exports = { setup, teardown };
