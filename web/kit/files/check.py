"""Check your models.py before you upload it: the server's own checks, seeds and rules (see README.md).

    python check.py          # every question
    python check.py q1       # one question
    python check.py --help   # the options
"""

import os
import sys

if sys.version_info < (3, 9):
    sys.exit("check.py needs Python 3.9 or newer (this is Python %d.%d)." % sys.version_info[:2])
if os.name == "nt":
    sys.exit("check.py runs on Linux and macOS. On Windows, run it inside WSL (see README.md).")

from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from grader.checker import main  # noqa: E402

sys.exit(main(sys.argv[1:], HERE))
