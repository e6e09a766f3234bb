#!/bin/bash
# The peer benchmark (queuectl beside BullMQ, pg-boss, graphile-worker, task-spooler) with
# queuectl on PostgreSQL added as one more system, `queuectl-pg`: the harness is copied from
# $ANCHORS_SRC (default ../shared/bench-anchors, which may be read-only) to
# $ANCHORS_DIR/harness and bench/anchors-postgres.patch is applied to the copy. queuectl-pg runs
# the service on the peers' PostgreSQL server (DATABASE_URL of the harness), a schema of its own
# per measurement, dropped afterwards; its worker reaches the service by QUEUECTL_URL. The enqueue
# workloads also run as `queuectl-min` and `queuectl-pg-min`: the same calls with
# `Prefer: return=minimal`, whose answers are the new jobs' ids alone.
#
# Run from the project's root after `npm run build` and the harness's setup.sh:
#   bash bench/anchors.sh                       # prepare the copy
#   REPS=3 node "${ANCHORS_DIR:-/tmp/anchors}/harness/run-queuectl.js"
# On a loaded machine, smaller sizes: N_SHELL (2000 shell jobs), N_ENQ (10000 enqueues) and N_BULK
# (the bulk workload, N_ENQ unless given).
set -euo pipefail
SRC=${ANCHORS_SRC:-../shared/bench-anchors}
DEST=${ANCHORS_DIR:-/tmp/anchors}/harness
PATCH=$(cd "$(dirname "$0")" && pwd)/anchors-postgres.patch
rm -rf "$DEST"
mkdir -p "$DEST"
cp -r "$SRC"/. "$DEST"/
chmod -R u+w "$DEST"
patch -s -d "$DEST" -p1 < "$PATCH"
echo "$DEST"
