"""Shared fixtures: where the real datasets live (beside the project, never copied into it)."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATASETS = ROOT.parent / "shared" / "datasets"

needs_datasets = pytest.mark.skipif(not DATASETS.is_dir(), reason=f"real datasets not found at {DATASETS}")
