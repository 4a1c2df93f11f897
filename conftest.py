"""Root conftest: the fixtures every service's tests share (see shared/testing/fixtures.py)."""

pytest_plugins = ["shared.testing.fixtures"]
