import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from properties.models import Membership, Organization
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_create_organization_creates_the_manager_with_a_password():
    call_command(
        "create_organization", "Lakeside Lets", "--owner", "lena", "--password", "s3cret-pass"
    )
    organization = Organization.objects.get(name="Lakeside Lets")
    membership = Membership.objects.get(organization=organization)
    assert membership.role == Membership.Role.MANAGER
    assert membership.user.username == "lena"
    assert membership.user.is_staff
    assert membership.user.check_password("s3cret-pass")


def test_create_organization_reuses_an_existing_user():
    user = UserFactory(username="omar")
    call_command("create_organization", "Omar Homes", "--owner", "omar")
    user.refresh_from_db()
    assert user.check_password("pw-for-tests")  # untouched without --password
    assert Membership.objects.get(user=user).organization.name == "Omar Homes"
    assert get_user_model().objects.filter(username="omar").count() == 1


def test_create_organization_refuses_a_duplicate_name():
    call_command("create_organization", "Twice", "--owner", "a")
    with pytest.raises(CommandError, match="already exists"):
        call_command("create_organization", "Twice", "--owner", "b")
    assert Organization.objects.filter(name="Twice").count() == 1
