#!/usr/bin/env bash
# The Docker engine for the sandboxes: install it if missing, start dockerd if nothing answers, and build
# the sandbox image if it is missing or stale (its tag is a hash of sandbox/image and grader/).
#
# dockerd starts with its defaults (storage driver chosen automatically: overlay2 where the kernel allows,
# else vfs; iptables and the docker0 bridge on), so compose's bridge networks work too. Where iptables or
# the bridge cannot be set up (some nested VMs), it retries with --iptables=false --bridge=none: sandboxes
# still work (they use --network none), but bridge networks for docker compose do not.
set -euo pipefail
cd "$(dirname "$0")/../.."

log=var/log/dockerd.log
wait_s=60

missing=()
command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
if ((${#missing[@]})); then
    echo "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

engine_up() { docker info >/dev/null 2>&1; }

start_dockerd() {
    mkdir -p "$(dirname "$log")"
    echo "starting dockerd $* (log: $log)"
    echo "=== $(date -u +%FT%TZ) dockerd $*" >>"$log"
    # setsid: the engine outlives this script and the shell that ran setup.sh.
    setsid dockerd "$@" </dev/null >>"$log" 2>&1 &
    local pid=$! waited=0
    until engine_up; do
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "dockerd exited during start-up" >&2
            return 1
        fi
        if ((waited >= wait_s)); then
            echo "dockerd did not answer within ${wait_s}s" >&2
            return 1
        fi
        sleep 1
        waited=$((waited + 1))
    done
}

show_log_tail() {
    echo "--- last lines of $log ---" >&2
    tail -n 40 "$log" >&2 || true
}

if engine_up; then
    echo "docker engine already answering"
else
    if ! start_dockerd; then
        show_log_tail
        if pgrep -x dockerd >/dev/null && ! engine_up; then
            echo "error: a dockerd process exists but does not answer on the socket; stop it and rerun" >&2
            exit 1
        fi
        echo "retrying without iptables and the default bridge (sandboxes need neither)" >&2
        if ! start_dockerd --iptables=false --bridge=none; then
            show_log_tail
            echo "error: could not start the Docker engine; see $log" >&2
            exit 1
        fi
        echo "warning: dockerd runs with --iptables=false --bridge=none: docker compose bridge networks will not work" >&2
    fi
fi
docker info --format 'engine {{.ServerVersion}}, storage driver {{.Driver}}, cgroup v{{.CgroupVersion}}'

# No pruning here: on a machine that grades, a worker of the previous version may still need its image
# (`make prune-images` removes the images of other grader versions on purpose).
.venv/bin/python -m sandbox.image build
