"""``python -m emcrowd``."""

from emcrowd.cli import run

run()
