"""The WSGI entry point gunicorn serves: settings from the environment, then the app."""

from __future__ import annotations

import gc

from nngrade.settings import load_settings
from web.app import create_app

app = create_app(load_settings(make_secret=True))
# Everything loaded so far lives as long as the process: out of the collector's sight, a full collection
# during a request (a dashboard of hundreds of students allocates enough to trigger one) stays short.
gc.freeze()
