"""Test helpers shared by several test areas (fixtures stay in each area's conftest.py)."""
