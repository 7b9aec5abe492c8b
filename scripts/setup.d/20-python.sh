#!/usr/bin/env bash
# The project's virtual environment (.venv), installed from uv.lock only, so the same commit installs the
# same bytes on any day. uv itself comes first, into var/tools/uv, from the wheel hashes uv.lock records.
# `uv sync --locked` refuses to run when pyproject.toml and uv.lock disagree: run `make lock` then.
set -euo pipefail
cd "$(dirname "$0")/../.."

python=$(command -v python3.11 || command -v python3)
tools=var/tools/uv
uv=$tools/bin/uv
want=$("$python" scripts/uv_requirement.py --version)
if [ ! -x "$uv" ] || [ "$("$uv" --version 2>/dev/null | cut -d' ' -f2)" != "$want" ]; then
    echo "installing uv $want into $tools"
    rm -rf "$tools"
    "$python" -m venv "$tools"
    "$python" scripts/uv_requirement.py >"$tools/requirement.txt"
    # The site's pip configuration may list local wheel folders; the hashes decide what is accepted.
    "$tools/bin/pip" install --quiet --no-deps --require-hashes -r "$tools/requirement.txt" 2> \
        >(grep -v "is ignored: it is neither" >&2)
fi

[ "${1:-}" = "--uv-only" ] && exit 0

export UV_PYTHON="$python" UV_PYTHON_DOWNLOADS=never
"$uv" sync --locked --quiet
"$uv" --version
