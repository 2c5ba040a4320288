"""Fixtures shared by every tier. Real parts live in the tiers' own conftest files."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
