"""On a phone (390 × 844 in headless Chromium) no page scrolls sideways, for a manager and
for staff, with the long names real data brings: a guest's double-barrelled name, a crew
member's full name in the assignee drop-down, a lock's name from its app, a code named by
another system. Wide tables scroll inside their own box; text wraps; selects fit."""

import pytest
from django.urls import reverse

from locks.unmanaged import unmanaged_codes_import
from properties.models import CrewMember
from reservations.models import Turnover
from tests.e2e.browser import sign_in
from tests.fixtures_lifecycle import same_day_pair

pytestmark = pytest.mark.django_db(transaction=True)

LONG_GUEST = "Maximiliana Alexandrovna Konstantinopoulou-Wolfeschlegelsteinhausen"
LONG_CREW = "Anastasia Bartholomew-Featherstonehaugh (Sparkling Clean Holiday Lets Ltd.)"
LONG_LOCK = "Schlage Encode Plus Smart WiFi Deadbolt — Building B Rear Service Entrance"
LONG_CODE = "hostaway_reservation_HA-2931847_maximiliana_konstantinopoulou_checkin"

# Reports what sticks out, so that a failure names the element to fix.
OVERFLOW = """() => {
  const width = window.innerWidth;
  const wide = [];
  for (const el of document.querySelectorAll('body *')) {
    const box = el.getBoundingClientRect();
    if (box.right > width + 1 && box.width > 0) {
      let inside = false;
      for (let p = el.parentElement; p; p = p.parentElement) {
        const style = getComputedStyle(p);
        if (['auto', 'scroll', 'hidden', 'clip'].includes(style.overflowX)) {
          inside = true;
          break;
        }
      }
      const name = typeof el.className === 'string' && el.className
        ? '.' + el.className.split(' ').join('.') : '';
      if (!inside) wide.push(el.tagName + (el.id ? '#' + el.id : '') + name + ' ' +
        Math.round(box.right));
    }
  }
  wide.sort((a, b) => parseInt(b.split(' ').pop()) - parseInt(a.split(' ').pop()));
  return {scroll: document.documentElement.scrollWidth, inner: width, wide: wide.slice(0, 8)};
}"""


@pytest.fixture
def long_names(crew):
    crew.rosa.name = LONG_CREW
    crew.rosa.save()
    CrewMember.objects.create(organization=crew.listing.organization, name=LONG_CREW + " II")
    crew.side.name = LONG_LOCK
    crew.side.save()
    first, _second = same_day_pair(crew)
    crew.book(days_ahead=0, nights=2, guest_name=LONG_GUEST, guest_email="")
    crew.fake.add_unmanaged("august_device_1", "739104", LONG_CODE)
    crew.fake.add_unmanaged("august_device_2", "739105", LONG_CODE + "_2")
    unmanaged_codes_import(connection=crew.connection)
    crew.turnover = Turnover.objects.get(after_stay=first)
    return crew


def pages(long_names):
    return [
        reverse("dashboard"),
        reverse("smart_devices:list"),
        reverse("smart_devices:leftovers"),
        reverse("admin:properties_listing_change", args=[long_names.listing.pk]),
        reverse("admin:reservations_turnover_change", args=[long_names.turnover.pk]),
    ]


@pytest.mark.parametrize("who", ["manager", "staff"])
def test_no_page_scrolls_sideways_on_a_phone(browser, live_server, long_names, org_a, who):
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    sign_in(page, live_server, getattr(org_a, who).username)
    wide = {}
    for path in pages(long_names):
        response = page.goto(f"{live_server.url}{path}")
        assert response.status == 200, path
        measure = page.evaluate(OVERFLOW)
        if measure["scroll"] > measure["inner"]:
            wide[path] = measure
    context.close()
    assert not wide, "\n".join(f"{path}: {m}" for path, m in wide.items())


def test_the_standing_access_form_stacks_its_working_hours_on_a_phone(
    browser, live_server, crew, org_a
):
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    sign_in(page, live_server, org_a.manager.username)
    response = page.goto(f"{live_server.url}{reverse('admin:reservations_standingaccess_add')}")
    assert response.status == 200
    measure = page.evaluate(OVERFLOW)
    assert measure["scroll"] <= measure["inner"], measure
    # Each working-hours field within the page's width, none behind a sideways scroll in
    # its box (scrolled into view only down the page, never across its box).
    for name in ("property", "opens", "closes"):
        field = page.locator(f"#id_hours-0-{name}")
        page.evaluate(
            "el => window.scrollTo(0, el.getBoundingClientRect().top + scrollY - 100)",
            field.element_handle(),
        )
        box = field.bounding_box()
        assert field.is_visible() and box["x"] >= 0, name
        assert box["x"] + box["width"] <= measure["inner"], (name, box)
    context.close()
