#!/usr/bin/env bash
# Start a one-node SLURM on localhost (munged, slurmctld, slurmd) for the tests: as root, with the machine's
# CPUs and memory as `slurmd -C` finds them. Needs Debian's slurm-wlm and munge. Stop it with stop.sh.
#   IGAN_SLURM_STATE  state, logs and pid files (default /tmp/igan-slurm)
#   SLURM_CONF        where the config is written (default /etc/slurm/slurm.conf, where sbatch looks)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
state="${IGAN_SLURM_STATE:-/tmp/igan-slurm}"
conf="${SLURM_CONF:-/etc/slurm/slurm.conf}"
marker="# igan one-node SLURM"

[ "$(id -u)" = 0 ] || { echo "start.sh: run as root (the daemons and the jobs run as root)" >&2; exit 1; }
for tool in munged slurmctld slurmd sinfo; do
    command -v "$tool" >/dev/null || { echo "start.sh: $tool not found (apt-get install slurm-wlm munge)" >&2; exit 1; }
done
if [ -f "$conf" ] && ! head -1 "$conf" | grep -q "^$marker"; then
    echo "start.sh: $conf exists and is not ours; not overwriting a real cluster's config" >&2; exit 1
fi
"$here/stop.sh" >/dev/null 2>&1 || true  # a previous cluster of ours, if any

mkdir -p "$state/ctld" "$state/d" "$(dirname "$conf")"
host="$(hostname -s)"
node="$(slurmd -C | head -1 | sed "s/^NodeName=[^ ]*/NodeName=$host/")"  # CPUs, sockets, cores, RealMemory
sed -e "s|@HOST@|$host|g" -e "s|@STATE@|$state|g" -e "s|@NODE@|$node|" "$here/slurm.conf.in" > "$conf"

# munge: a key (Debian's package creates one; make it when missing), its socket folder, then the daemon as munge.
mkdir -p /run/munge /var/lib/munge /var/log/munge /etc/munge
[ -s /etc/munge/munge.key ] || mungekey --create --keyfile=/etc/munge/munge.key
chown munge:munge /run/munge /var/lib/munge /var/log/munge /etc/munge /etc/munge/munge.key
chmod 0400 /etc/munge/munge.key
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then  # a munged already running is left alone
    runuser -u munge -- munged --pid-file=/run/munge/munged.pid
    touch "$state/munged.ours"
fi
slurmctld -c -f "$conf"  # -c: a clean start, no jobs left from an earlier cluster
slurmd -f "$conf"

# Ready when the node takes jobs (idle), within 60 s.
for _ in $(seq 120); do
    if [ "$(sinfo -h -N -o %t 2>/dev/null | head -1)" = idle ]; then
        echo "SLURM up: $(sinfo -h -N -o '%N %c CPUs %m MB %t')"; exit 0
    fi
    sleep 0.5
done
echo "start.sh: the node did not become idle; logs in $state" >&2
sinfo -N -l >&2 || true
tail -5 "$state/slurmctld.log" "$state/slurmd.log" >&2 || true
exit 1
