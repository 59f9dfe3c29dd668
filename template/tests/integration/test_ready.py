import pytest

pytestmark = pytest.mark.integration


def test_ready_with_real_dependencies(client) -> None:
    response = client.get("/ready")

    assert response.status_code == 200, response.json()
