#!/usr/bin/env bash
# The portal's translations: compile web/translations/*/LC_MESSAGES/messages.po to .mo (the portal refuses to
# start without them). Idempotent and fast; run it again after a .po changes.
set -euo pipefail
cd "$(dirname "$0")/../.."
.venv/bin/pybabel compile -d web/translations -D messages --statistics
