"""Check your models.py before you upload it: the server's own checks, seeds and rules (see README.md).

    python check.py          # every question
    python check.py q1       # one question
    python check.py --help   # the options
"""

import os
import sys

# Said in both of the course's languages: nothing of the kit is loaded yet to know which one was chosen.
if sys.version_info < (3, 9):
    sys.exit("check.py necesita Python 3.9 o más reciente (este es Python %d.%d).\n"
             "check.py needs Python 3.9 or newer (this is Python %d.%d)." % (sys.version_info[:2] * 2))
if os.name == "nt":
    sys.exit("check.py funciona en Linux y macOS; en Windows, úsalo dentro de WSL (mira README.md).\n"
             "check.py runs on Linux and macOS; on Windows, run it inside WSL (see README.md).")

from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from grader.checker import main  # noqa: E402

sys.exit(main(sys.argv[1:], HERE))
