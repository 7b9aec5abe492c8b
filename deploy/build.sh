#!/usr/bin/env bash
# Builds every image docker-compose.yml runs, with no image registry and no network inside `docker build`
# except plain-http Debian mirrors (TLS from build containers may be intercepted by a CA only the host trusts):
#
#   nngrade-app:local       web + worker + init: the base + a venv installed with `pip --no-index
#                           --require-hashes` from wheels the HOST's pip downloaded (uv.lock, exported)
#   nngrade-redis:local     redis-server from Debian, FROM the base    (skipped when REDIS_IMAGE is set)
#   nngrade-postgres:local  PostgreSQL 15 from Debian, FROM the base   (skipped when POSTGRES_IMAGE is set)
#   nngrade-sandbox:<hash>  the sandbox (python -m sandbox.image build); the init service checks it again
#
# It also prepares the host directory the worker shares with the engine (NNGRADE_HOST_DIR, see README):
# the MNIST cache in $NNGRADE_HOST_DIR/data and the scratch directory for per-attempt copies.
#
#   BASE_IMAGE=python:3.11-slim REDIS_IMAGE=redis:7 POSTGRES_IMAGE=postgres:15 deploy/build.sh   # with a registry
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

BASE_IMAGE=${BASE_IMAGE:-nngrade-base:bookworm}
APP_IMAGE=${APP_IMAGE:-nngrade-app:local}
NNGRADE_HOST_DIR=${NNGRADE_HOST_DIR:-/srv/nngrade}
python=.venv/bin/python
uv=var/tools/uv/bin/uv
context=var/deploy/context
wheelhouse=var/cache/deploy/wheels

say() { echo "==> deploy: $*"; }
# pip's warnings about index locations this site's configuration lists but this machine lacks are noise.
# The classic builder's deprecation notice is noise too: compose v1 builds with it anyway.
docker_build() { docker build -q "$@" 2> >(grep -Ev "DEPRECATED|legacy builder|buildx|docs.docker.com" >&2) >/dev/null; }
quiet_pip() { "$python" -m pip "$@" 2> >(grep -v "is ignored: it is neither" >&2); }
[ -x "$python" ] && [ -x "$uv" ] || { echo "no .venv: run bash scripts/setup.sh first" >&2; exit 1; }
docker info >/dev/null 2>&1 || { echo "the Docker engine does not answer: bash scripts/setup.d/50-docker.sh" >&2; exit 1; }

# 1. The sandbox image (on its own bullseye base, the course's era stack), then the debootstrapped bookworm
#    base the app, Redis and PostgreSQL images build on.
say "sandbox image"
"$python" -m sandbox.image build | tail -n 1
if [[ "$BASE_IMAGE" == nngrade-base:* ]]; then
    say "base $BASE_IMAGE"
    "$python" -m sandbox.image base --suite "${BASE_IMAGE#nngrade-base:}" | tail -n 1
elif ! docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
    docker pull "$BASE_IMAGE"
fi

# 2. Wheels: the runtime part of uv.lock (plus pip, the `image` group) exported with its hashes, downloaded by
#    the host's pip with --require-hashes. Markers are dropped for the download only: they are evaluated by
#    the image's interpreter (Debian's 3.11.2 needs async-timeout where the host's Python may not).
mkdir -p "$wheelhouse" var/cache/deploy
"$uv" export --quiet --frozen --no-dev --group image --no-emit-project --format requirements-txt \
    -o var/cache/deploy/requirements.txt
sed -E 's/ ; [^\\]*\\$/ \\/' var/cache/deploy/requirements.txt >var/cache/deploy/download.txt
say "wheels ($(grep -c '==' var/cache/deploy/requirements.txt) locked in uv.lock)"
quiet_pip download -q --only-binary=:all: --no-deps --require-hashes -d "$wheelhouse" \
    -r var/cache/deploy/download.txt

# 3. The build context: the source tree as git sees it (tracked and not ignored), the wheels, the lock.
say "build context $context"
rm -rf "$context"
mkdir -p "$context/src" "$context/wheels"
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    git ls-files -z --cached --others --exclude-standard \
        | grep -zv -e '^\.import_linter_cache/' -e '^artifacts/' \
        | xargs -0 -I{} sh -c '[ -e "{}" ] && printf "%s\0" "{}"' \
        | tar --null -T - -cf - | tar -C "$context/src" -xf -
else
    tar --exclude=./.venv --exclude=./var --exclude=./.git --exclude='__pycache__' --exclude='.*_cache' \
        -cf - . | tar -C "$context/src" -xf -
fi
find "$context/src" -name __pycache__ -prune -exec rm -rf {} +
while read -r spec; do
    name=${spec%%==*}
    version=${spec#*==}
    pattern="$(echo "$name" | tr '-' '_')-${version}-*.whl"
    found=$(find "$wheelhouse" -maxdepth 1 -iname "$pattern" | head -n 1)
    [ -n "$found" ] || { echo "missing wheel for $spec in $wheelhouse" >&2; exit 1; }
    cp "$found" "$context/wheels/"
done < <(grep -o '^[a-z0-9_.-]*==[^ ]*' var/cache/deploy/requirements.txt)
cp var/cache/deploy/requirements.txt "$context/requirements.txt"
cp deploy/app.Dockerfile "$context/Dockerfile"

# 4. Images.
say "app image $APP_IMAGE on $BASE_IMAGE"
docker_build --build-arg BASE_IMAGE="$BASE_IMAGE" -t "$APP_IMAGE" "$context"
if [ -z "${REDIS_IMAGE:-}" ]; then
    say "redis image nngrade-redis:local"
    docker_build --build-arg BASE_IMAGE=nngrade-base:bookworm -t nngrade-redis:local -f deploy/redis.Dockerfile deploy
else
    docker image inspect "$REDIS_IMAGE" >/dev/null 2>&1 || docker pull "$REDIS_IMAGE"
fi
if [ -z "${POSTGRES_IMAGE:-}" ]; then
    say "postgres image nngrade-postgres:local"
    docker_build --build-arg BASE_IMAGE=nngrade-base:bookworm -t nngrade-postgres:local \
        -f deploy/postgres.Dockerfile deploy
else
    docker image inspect "$POSTGRES_IMAGE" >/dev/null 2>&1 || docker pull "$POSTGRES_IMAGE"
fi

# 5. The host directory shared, at the same path, by the worker container and the engine.
say "host directory $NNGRADE_HOST_DIR"
mkdir -p "$NNGRADE_HOST_DIR/data" "$NNGRADE_HOST_DIR/scratch"
chmod 0755 "$NNGRADE_HOST_DIR" "$NNGRADE_HOST_DIR/data"
chmod 0700 "$NNGRADE_HOST_DIR/scratch"
if ! "$python" -m grader.mnist status --data-dir "$NNGRADE_HOST_DIR/data" >/dev/null 2>&1; then
    source_data=${NNGRADE_DATA_DIR:-$repo/var/data}
    if "$python" -m grader.mnist status --data-dir "$source_data" >/dev/null 2>&1; then
        cp -a "$source_data/." "$NNGRADE_HOST_DIR/data/"
    else
        "$python" -m grader.mnist fetch --data-dir "$NNGRADE_HOST_DIR/data"
    fi
fi
"$python" -m grader.mnist status --data-dir "$NNGRADE_HOST_DIR/data"
say "done: NNGRADE_HOST_DIR=$NNGRADE_HOST_DIR docker-compose up -d"
