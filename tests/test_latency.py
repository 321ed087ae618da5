"""Small-data latency (issue 28): what ``emcrowd --help`` imports, and EBCC's cheaper restarts."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("numpy", "pyarrow", "numba", "emcrowd.models", "emcrowd.io")


def test_help_imports_no_numerical_library():
    """``emcrowd --help`` (and every command's ``--help``) imports neither NumPy nor pyarrow nor numba:
    those imports cost more than the rest of the help together."""
    code = (
        "import sys\n"
        "sys.argv = ['emcrowd'] + sys.argv[1:]\n"
        "try:\n"
        "    from emcrowd.cli import _run\n"
        "    _run()\n"
        "except SystemExit:\n"
        "    pass\n"
        f"print('imported:', ','.join(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    for args in (["--help"], ["fit", "--help"], ["compare", "--help"], ["simulate", "--help"]):
        done = subprocess.run(
            [sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120, check=True
        )
        assert done.stdout.splitlines()[-1] == "imported: ", args
