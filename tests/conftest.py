from __future__ import annotations

import pyarrow as pa
import pytest


@pytest.fixture
def small_members() -> pa.Table:
    """A hand-drawn company (ids A..G), drawn out in tests/test_genealogy.py."""
    return pa.table(
        {
            "member_id": ["A", "B", "C", "D", "E", "F", "G"],
            "sponsor_id": [None, "A", "A", "B", "B", "C", "D"],
            "placement_id": [None, "A", "A", "B", "B", "C", "D"],
            "leg": [None, "L", "R", "L", "R", "L", "R"],
            "status": ["active", "active", "inactive", "active", "terminated", "active", "active"],
        }
    )
