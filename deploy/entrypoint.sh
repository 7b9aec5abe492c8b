#!/bin/sh
# The app image's entry: `init` (one-shot: migrate, check the MNIST cache, build the sandbox image on the
# host's engine), `init-worker` (the same without migrating, for worker-only machines), `web` (gunicorn),
# `worker` (Celery), `health-web`, `health-worker`; anything else runs as is.
set -eu

migrate() {
    python -c 'from nngrade.settings import load_settings; from gradebook.db import migrate; \
s = load_settings(); migrate(s.database_url, storage_dir=s.storage_dir); print("database migrated")'
}

check_data_and_image() {
    if ! python -m grader.mnist status --data-dir "$NNGRADE_DATA_DIR"; then
        echo "no MNIST cache in $NNGRADE_DATA_DIR: run deploy/build.sh on the host (it fills NNGRADE_HOST_DIR/data)" >&2
        exit 1
    fi
    # The tag hashes this image's grader/ and the sandbox's stack lock, so this finds exactly the image the
    # workers ask for (deploy/build.sh builds it on the host; building it here needs debootstrap and PyPI).
    python -m sandbox.image build --cache-dir /var/lib/nngrade/cache --record "$NNGRADE_VAR_DIR/sandbox-image.json" \
        | tail -n 1
}

case "${1:-web}" in
init)
    migrate
    check_data_and_image
    ;;
init-worker)
    check_data_and_image
    ;;
web)
    shift || true
    migrate
    exec nngrade serve --host 0.0.0.0 --port 8000 "$@"
    ;;
worker)
    shift || true
    mkdir -p "${TMPDIR:-/tmp}"
    exec nngrade worker --hostname "grader@$(hostname)" "$@"
    ;;
health-web)
    exec python -c 'import sys, urllib.request; \
sys.exit(0 if urllib.request.urlopen("http://127.0.0.1:8000/login", timeout=5).status == 200 else 1)'
    ;;
health-worker)
    exec python -c 'import socket, sys; \
from nngrade.settings import load_settings; from worker.app import make_celery; \
app = make_celery(load_settings()); name = "grader@" + socket.gethostname(); \
sys.exit(0 if app.control.ping(destination=[name], timeout=5.0) else 1)'
    ;;
*)
    exec "$@"
    ;;
esac
