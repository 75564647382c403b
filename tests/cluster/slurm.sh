#!/usr/bin/env bash
# A one-node SLURM cluster on 127.0.0.1 for `make test-cluster`: `slurm.sh check` says what is missing
# (root; apt-get when the packages are not installed); `slurm.sh up STATE_DIR` installs Debian's
# munge and SLURM when missing, starts munged, slurmctld and slurmd in the background (their PIDs in
# STATE_DIR/pids) and waits until the node is idle; `slurm.sh down STATE_DIR` cancels every job and stops
# exactly those PIDs. Facts this relies on (measured, Debian 12): munged refuses to run as root; the config
# must be /etc/slurm/slurm.conf (the Snakemake jobstep strips SLURM_CONF before its srun); without
# accounting, squeue is the only status source, so finished jobs must stay listed (MinJobAge).
set -euo pipefail

CONF=/etc/slurm/slurm.conf
MARKER="# reelmake test cluster"
PACKAGES=(munge slurm-client slurmctld slurmd)

die() {
	echo "test-cluster: $*" >&2
	exit 2
}

# Wait up to $1 seconds for the command in the remaining arguments to succeed.
wait_for() {
	local seconds=$1
	shift
	local deadline=$((SECONDS + seconds))
	until "$@" >/dev/null 2>&1; do
		((SECONDS < deadline)) || return 1
		sleep 0.5
	done
}

# A PID is alive when /proc has it and it is not a zombie (PID 1 may reap late, and kill -0 sees zombies).
alive() {
	[[ -r /proc/$1/stat ]] && [[ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" != Z ]]
}

missing_tools() {
	local tool
	for tool in munged slurmctld slurmd sbatch; do
		command -v "$tool" >/dev/null || echo "$tool"
	done
}

# What up needs, checked before anything is installed or started.
check() {
	[[ $(id -u) == 0 ]] || die "needs root: it installs ${PACKAGES[*]} when missing, writes $CONF and runs slurmctld, slurmd and munged (CI runs as root)"
	local missing
	missing=$(missing_tools | tr '\n' ' ')
	if [[ -n $missing ]] && ! command -v apt-get >/dev/null; then
		die "needs apt-get to install ${PACKAGES[*]} (missing: $missing); this target supports Debian and Ubuntu"
	fi
}

install_packages() {
	[[ -z "$(missing_tools)" ]] && return 0
	echo "test-cluster: installing ${PACKAGES[*]}"
	local try
	for try in 1 2 3; do
		apt-get -o DPkg::Lock::Timeout=120 update -qq && break
		((try < 3)) || die "apt-get update failed three times"
		sleep 5
	done
	DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends \
		"${PACKAGES[@]}" >/dev/null || die "apt-get install ${PACKAGES[*]} failed"
}

write_config() {
	local state=$1 host cpus mem
	host=$(hostname -s)
	cpus=$(nproc)
	mem=$(awk '/MemTotal/ {print int($2 / 1024 * 0.9)}' /proc/meminfo)
	mkdir -p /etc/slurm "$state/ctld" "$state/slurmd" "$state/log"
	cat >"$CONF" <<EOF
$MARKER (written by tests/cluster/slurm.sh, removed by its 'down')
ClusterName=reelmake-test
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
DefMemPerCPU=500
SchedulerType=sched/backfill
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
# Finished jobs stay visible to squeue (the status source without accounting) for 5 minutes.
MinJobAge=300
ReturnToService=2
StateSaveLocation=$state/ctld
SlurmdSpoolDir=$state/slurmd
SlurmctldPidFile=$state/slurmctld.pid
SlurmdPidFile=$state/slurmd.pid
SlurmctldLogFile=$state/log/slurmctld.log
SlurmdLogFile=$state/log/slurmd.log
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
}

start_munge() {
	local state=$1
	mkdir -p /run/munge /var/log/munge /var/lib/munge
	chown munge:munge /run/munge /var/log/munge /var/lib/munge
	if [[ ! -s /etc/munge/munge.key ]]; then
		setpriv --reuid=munge --regid=munge --init-groups mungekey --create >/dev/null
	fi
	if munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1; then
		echo "test-cluster: using the munged already running"
		return 0
	fi
	setpriv --reuid=munge --regid=munge --init-groups munged -F >"$state/log/munged.out" 2>&1 &
	echo "munged $!" >>"$state/pids"
	wait_for 20 sh -c 'munge -n </dev/null | unmunge' || die "munged did not start in 20 s: $(tail -5 "$state/log/munged.out")"
}

node_idle() {
	[[ "$(sinfo -h -N -o %T 2>/dev/null)" == idle ]]
}

up() {
	local state=$1
	check
	install_packages
	if [[ -e $CONF ]] && ! head -1 "$CONF" | grep -q "^$MARKER"; then
		die "$CONF exists and is not ours: this machine has a real SLURM configuration; not touching it"
	fi
	local pid running=()
	for pid in $(pgrep -x slurmctld) $(pgrep -x slurmd); do
		alive "$pid" && running+=("$pid")
	done
	((${#running[@]} == 0)) || die "slurmctld or slurmd is already running (pids ${running[*]}); stop it first"
	rm -rf "$state"
	mkdir -p "$state"
	: >"$state/pids"
	write_config "$state"
	start_munge "$state"
	slurmctld -D -c >"$state/log/slurmctld.out" 2>&1 &
	echo "slurmctld $!" >>"$state/pids"
	wait_for 30 scontrol ping || die "slurmctld did not answer in 30 s: $(tail -5 "$state/log/slurmctld.log" 2>/dev/null)"
	slurmd -D >"$state/log/slurmd.out" 2>&1 &
	echo "slurmd $!" >>"$state/pids"
	wait_for 60 node_idle || die "the node is not idle after 60 s ($(sinfo -h -N -o '%T %E' 2>&1)): $(tail -5 "$state/log/slurmd.log" 2>/dev/null)"
	echo "test-cluster: SLURM up on 127.0.0.1 ($(sinfo -h -N -o '%N %c CPUs %m MB %T'))"
}

stop_pid() {
	local name=$1 pid=$2
	alive "$pid" || return 0
	kill "$pid" 2>/dev/null || true
	if ! wait_for 20 bash -c "! { [[ -r /proc/$pid/stat ]] && [[ \$(awk '{print \$3}' /proc/$pid/stat) != Z ]]; }"; then
		echo "test-cluster: $name ($pid) ignored SIGTERM for 20 s; killing it" >&2
		kill -KILL "$pid" 2>/dev/null || true
	fi
}

down() {
	local state=$1
	if [[ -s $state/pids ]] && command -v scancel >/dev/null; then
		# Running jobs outlive a stopped slurmd (proctrack/linuxproc): cancel them and wait.
		squeue -h -o %A 2>/dev/null | xargs -r scancel 2>/dev/null || true
		wait_for 30 bash -c '[[ -z "$(squeue -h -t PENDING,RUNNING,COMPLETING 2>/dev/null)" ]]' ||
			echo "test-cluster: jobs still listed after 30 s: $(squeue -h 2>&1 | head -5)" >&2
		timeout 10 scontrol shutdown >/dev/null 2>&1 || true
	fi
	if [[ -s $state/pids ]]; then
		# Stop in reverse order of start: slurmd, slurmctld, munged.
		tac "$state/pids" | while read -r name pid; do stop_pid "$name" "$pid"; done
		rm -f "$state/pids"
	fi
	if [[ -e $CONF ]] && head -1 "$CONF" | grep -q "^$MARKER"; then
		# A slurm.conf without a controller makes every Snakemake start with the plugin wait 10 s.
		rm -f "$CONF"
	fi
}

case ${1:-} in
check) check ;;
up) up "${2:?state dir}" ;;
down) down "${2:?state dir}" ;;
*) die "usage: slurm.sh check | up STATE_DIR | down STATE_DIR" ;;
esac
