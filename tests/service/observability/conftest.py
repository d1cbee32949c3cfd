"""The API tests' real service on a loopback port (`serve`), for the metrics tests."""

from tests.service.api.conftest import serve  # noqa: F401 - a fixture, used by name
