"""A number field beside a long label is as tall as any other field: the listing's
"Window opens (minutes before check-in)" and "Window closes" boxes were stretched to the
height of their three-line labels (49px against 30px)."""

import pytest

from tests.e2e.browser import sign_in

pytestmark = pytest.mark.django_db(transaction=True)

LONG_LABELS = [
    "buffer_before_minutes",  # Window opens (minutes before check-in)
    "buffer_after_minutes",  # Window closes (minutes after check-out)
    "override_max_extension_minutes",
    "code_lead_time_minutes",
]


def test_window_fields_are_as_tall_as_the_others(page, live_server, org_a):
    page.set_viewport_size({"width": 1400, "height": 1600})
    sign_in(page, live_server, org_a.manager.username)
    page.goto(f"{live_server.url}/admin/properties/listing/{org_a.listing.pk}/change/")
    usual = page.locator("#id_code_length").bounding_box()["height"]
    assert usual < 40
    for name in LONG_LABELS:
        field = page.locator(f"#id_{name}")
        height = field.bounding_box()["height"]
        assert abs(height - usual) <= 1, f"{name} is {height}px tall, the others {usual}px"
    # Still beside its label, on the label's first line.
    label = page.locator("label[for=id_buffer_before_minutes]").bounding_box()
    box = page.locator("#id_buffer_before_minutes").bounding_box()
    assert abs(box["y"] - label["y"]) < 12
