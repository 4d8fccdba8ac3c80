"""A lock assignment's door label and staff access through the API."""

import pytest

pytestmark = pytest.mark.django_db


def test_a_label_longer_than_sixty_characters_is_refused_by_the_api(org_a, manager_api):
    url = f"/api/v1/assignments/{org_a.assignment.pk}/"
    response = manager_api.patch(url, {"label": "x" * 61}, format="json")
    assert response.status_code == 400
    assert "label" in response.json()
    response = manager_api.patch(url, {"label": "Front gate", "staff_access": True}, format="json")
    assert response.status_code == 200, response.content
    assert (response.json()["label"], response.json()["staff_access"]) == ("Front gate", True)
    listed = manager_api.get("/api/v1/assignments/", {"staff_access": "true"}).json()
    assert [row["id"] for row in listed["results"]] == [org_a.assignment.pk]
