#!/usr/bin/env bash
# A one-node SLURM cluster on this machine, from nothing: `tools/slurm/cluster.sh up | down | status`.
#
# As root, on Debian/Ubuntu: installs slurm-wlm, slurmdbd, munge and MariaDB (apt) when missing, writes
# /etc/slurm/{slurm,slurmdbd}.conf from the templates beside this script, and starts munged, mariadbd,
# slurmdbd, slurmctld and slurmd directly: no systemd, no cgroups. Accounting is on because submitit
# polls job states with `sacct`; without it a job that dies before writing its result hangs the sweep.
# `up` is idempotent (a running daemon is left alone) and ends when the node accepts jobs; `down`
# cancels every job, then stops the daemons through their pid files.
#
# Settings (environment): SLURM_LOCAL_CLUSTER (name, default inception), SLURM_LOCAL_PARTITION (local),
# SLURM_LOCAL_SHARE (jobs allowed per core at once, default 4: a 3-job sweep runs side by side on 2 cores).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CLUSTER=${SLURM_LOCAL_CLUSTER:-inception}
PARTITION=${SLURM_LOCAL_PARTITION:-local}
SHARE=${SLURM_LOCAL_SHARE:-4}
ETC=/etc/slurm
STATE=/var/lib/slurm
LOG=/var/log/slurm
RUN=/run/slurm
PACKAGES=(slurm-wlm slurmdbd munge mariadb-server)
MARK="# inception-bench local cluster"
DAEMONS=(munged mariadbd slurmdbd slurmctld slurmd)  # in start order
declare -A PIDFILE=([munged]=/run/munge/munged.pid [mariadbd]=/run/mysqld/mysqld.pid
                    [slurmdbd]=$RUN/slurmdbd.pid [slurmctld]=$RUN/slurmctld.pid [slurmd]=$RUN/slurmd.pid)

say() { echo "slurm-cluster: $*"; }
die() { echo "slurm-cluster: error: $*" >&2; exit 1; }

# pid_of DAEMON: its pid, if its pid file names a live process of that name (a stale file's pid may be reused)
pid_of() {
  local pid
  pid=$(cat "${PIDFILE[$1]}" 2>/dev/null) || return 1
  [[ $pid =~ ^[0-9]+$ && $(cat "/proc/$pid/comm" 2>/dev/null) == "$1" ]] && echo "$pid"
}

alive() { pid_of "$1" >/dev/null; }

# wait_for SECONDS WHAT COMMAND...: poll COMMAND every 0.2 s until it succeeds, or fail naming the log dir
wait_for() {
  local seconds=$1 what=$2 i
  shift 2
  for ((i = 0; i < seconds * 5; i++)); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  die "$what not ready after ${seconds}s (logs: $LOG/)"
}

install_packages() {
  local missing=() p start=$SECONDS
  for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  ((${#missing[@]})) || return 0
  command -v apt-get >/dev/null || die "missing ${missing[*]} and no apt-get to install them"
  say "installing ${missing[*]} (apt; log: $LOG/apt.log)"
  install -d -m 0755 "$LOG"
  if ! { apt-get update -qq &&
         DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=300 --no-install-recommends \
           "${missing[@]}"; } >"$LOG/apt.log" 2>&1; then
    tail -n 20 "$LOG/apt.log" >&2
    die "could not install ${missing[*]}"
  fi
  say "installed in $((SECONDS - start)) s"
}

# render TEMPLATE DEST MODE: fill the @KEYS@; never overwrites a slurm config this script did not write.
# Sets CHANGED=1 when DEST's content changes.
render() {
  local template=$1 dest=$2 mode=$3 tmp
  if [[ -e $dest ]] && ! grep -q "^$MARK" "$dest"; then
    die "$dest exists and was not written by this script; refusing to replace a real cluster's config"
  fi
  tmp=$(mktemp)
  sed -e "s|@CLUSTER@|$CLUSTER|g" -e "s|@HOST@|$HOST|g" -e "s|@NODE@|$NODE|g" -e "s|@PARTITION@|$PARTITION|g" \
      -e "s|@SHARE@|$SHARE|g" -e "s|@STATE@|$STATE|g" -e "s|@LOG@|$LOG|g" -e "s|@RUN@|$RUN|g" \
      -e "s|@DB_PASS@|$DB_PASS|g" "$template" >"$tmp"
  if cmp -s "$tmp" "$dest"; then
    rm -f "$tmp"
  else
    install -m "$mode" "$tmp" "$dest"
    rm -f "$tmp"
    CHANGED=1
  fi
}

configure() {
  HOST=$(hostname -s)
  # the node line exactly as slurmd detects the hardware, so the node is never drained for a mismatch
  NODE=$(slurmd -C | head -n 1)
  [[ $NODE == NodeName=* ]] || die "slurmd -C did not describe this node: $NODE"
  DB_PASS=$(sed -n 's/^StoragePass=//p' "$ETC/slurmdbd.conf" 2>/dev/null || true)
  [[ -n $DB_PASS ]] || DB_PASS=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' | head -c 24)
  install -d -m 0755 "$ETC" "$STATE/slurmctld" "$STATE/slurmd" "$LOG" "$RUN"
  CHANGED=0
  render "$HERE/slurm.conf.in" "$ETC/slurm.conf" 0644
  render "$HERE/slurmdbd.conf.in" "$ETC/slurmdbd.conf" 0600
}

start_munge() {
  install -d -o munge -g munge -m 0755 /run/munge
  install -d -o munge -g munge -m 0700 /var/lib/munge /var/log/munge
  if [[ ! -s /etc/munge/munge.key ]]; then
    mungekey --create --keyfile=/etc/munge/munge.key
    chown munge:munge /etc/munge/munge.key
    chmod 0400 /etc/munge/munge.key
  fi
  alive munged || runuser -u munge -- /usr/sbin/munged
  wait_for 10 munged bash -c 'munge -n | unmunge'
}

start_mariadb() {
  install -d -o mysql -g mysql -m 0755 /run/mysqld
  [[ -d /var/lib/mysql/mysql ]] || mariadb-install-db --user=mysql --datadir=/var/lib/mysql --skip-test-db >/dev/null
  if ! alive mariadbd; then
    # no TCP port: slurmdbd reaches it through the socket in /run/mysqld
    setsid /usr/sbin/mariadbd --user=mysql --skip-networking >>"$LOG/mariadb.log" 2>&1 </dev/null &
  fi
  wait_for 30 MariaDB mariadb-admin --silent ping
  mariadb -e "CREATE DATABASE IF NOT EXISTS slurm_acct_db;
    CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY '$DB_PASS';
    ALTER USER 'slurm'@'localhost' IDENTIFIED BY '$DB_PASS';
    GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';"
}

ctld_up() { scontrol ping | grep -q UP; }

node_ready() { [[ $(sinfo -h -n "$HOST" -o %t) =~ ^(idle|mix|alloc) ]]; }

start_slurm() {
  alive slurmdbd || slurmdbd
  wait_for 30 slurmdbd sacctmgr -n list cluster
  sacctmgr -n -P list cluster format=cluster | grep -qx "$CLUSTER" || sacctmgr -i add cluster "$CLUSTER" >/dev/null
  alive slurmctld || slurmctld
  wait_for 30 slurmctld ctld_up
  alive slurmd || slurmd
  wait_for 30 "node $HOST" node_ready
}

# stop DAEMON: SIGTERM, then SIGKILL if it is still there after 20 s
stop() {
  local name=$1 pid i
  pid=$(pid_of "$name") || return 0
  kill -TERM "$pid"
  for ((i = 0; i < 100; i++)); do
    kill -0 "$pid" 2>/dev/null || { say "stopped $name"; return 0; }
    sleep 0.2
  done
  kill -KILL "$pid" 2>/dev/null || true
  say "killed $name (pid $pid): it ignored SIGTERM for 20 s"
}

stop_slurm() {
  if alive slurmctld; then
    local jobs
    jobs=$(squeue -h -o %A 2>/dev/null || true)
    if [[ -n $jobs ]]; then
      say "cancelling jobs: $(echo $jobs)"
      # shellcheck disable=SC2086
      scancel $jobs || true
      wait_for 30 "job cancellation" bash -c '[[ -z $(squeue -h -o %A) ]]'
    fi
  fi
  stop slurmd
  stop slurmctld
  stop slurmdbd
}

up() {
  local start=$SECONDS
  ((EUID == 0)) || die "run as root: it installs packages and starts daemons"
  install_packages
  configure
  if ((CHANGED)); then
    say "configuration written to $ETC"
    stop_slurm  # daemons of an older configuration
  fi
  start_munge
  start_mariadb
  start_slurm
  say "up in $((SECONDS - start)) s: node $HOST ($(sinfo -h -n "$HOST" -o '%c CPUs, %m MB')), partition $PARTITION"
}

down() {
  ((EUID == 0)) || die "run as root"
  stop_slurm
  stop mariadbd
  stop munged
}

status() {
  local name pid state=0
  for name in "${DAEMONS[@]}"; do
    if pid=$(pid_of "$name"); then echo "$name: up (pid $pid)"; else echo "$name: down"; state=1; fi
  done
  ((state)) || sinfo
  return $state
}

case ${1:-} in
  up) up ;;
  down) down ;;
  status) status ;;
  *) echo "usage: $0 up | down | status" >&2; exit 2 ;;
esac
