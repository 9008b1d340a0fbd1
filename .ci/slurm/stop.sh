#!/usr/bin/env bash
# Stop the one-node SLURM of start.sh: its slurmd, slurmctld and munged, by their pid files (nothing else).
state="${IGAN_SLURM_STATE:-/tmp/igan-slurm}"
conf="${SLURM_CONF:-/etc/slurm/slurm.conf}"
if [ -s "$state/slurmctld.pid" ] && head -1 "$conf" 2>/dev/null | grep -q "^# igan one-node SLURM"; then
    scancel --quiet --user="$(id -un)" 2>/dev/null || true  # tasks a test left behind end with the cluster
fi
pidfiles=("$state/slurmd.pid" "$state/slurmctld.pid")
[ -e "$state/munged.ours" ] && pidfiles+=(/run/munge/munged.pid)  # only a munged start.sh started
rm -f "$state/munged.ours"
for pidfile in "${pidfiles[@]}"; do
    [ -s "$pidfile" ] || continue
    pid="$(cat "$pidfile")"
    kill "$pid" 2>/dev/null || continue
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$pidfile"
done
exit 0
