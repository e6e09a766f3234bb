/** Pure rules of job dependencies (`after`), apart from the database. */

/**
 * A cycle among the jobs of one request, as the path that closes it (`a -> b -> a`), or
 * undefined. Only edges between these jobs count: a job already stored cannot wait on one that
 * does not exist yet, so a cycle can only be made within one request.
 */
export function findCycle(jobs: Array<{ id: string; after?: string[] }>): string[] | undefined {
  const after = new Map(jobs.map((j) => [j.id, j.after ?? []]));
  const state = new Map<string, 'open' | 'done'>();
  for (const start of after.keys()) {
    if (state.has(start)) continue;
    // Iterative depth-first search: a chain of 10,000 jobs must not overflow the stack.
    const path: string[] = [start];
    const next: number[] = [0];
    state.set(start, 'open');
    while (path.length > 0) {
      const id = path[path.length - 1];
      const deps = after.get(id)!;
      const i = next[next.length - 1]++;
      if (i >= deps.length) {
        state.set(id, 'done');
        path.pop();
        next.pop();
        continue;
      }
      const dep = deps[i];
      if (!after.has(dep)) continue;
      if (state.get(dep) === 'open') return [...path.slice(path.indexOf(dep)), dep];
      if (state.has(dep)) continue;
      state.set(dep, 'open');
      path.push(dep);
      next.push(0);
    }
  }
  return undefined;
}
