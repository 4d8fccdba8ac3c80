"""People join an organization by accepting a manager's invitation, sent to their email.

The link is single-use, expires, can be revoked, and only works for an account with the
invited address. Managers change roles and remove members; an organization always keeps
a manager.
"""

import datetime
import re

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import Client, override_settings
from django.urls import reverse
from django.utils import timezone

from properties import services
from properties.models import Invitation, Membership
from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db

LINK = re.compile(r"http://testserver/invitations/[\w-]+/")


def invite(manager_client, org, email="new.person@example.com", role="staff"):
    """Invite through the admin, as a manager does; return the emailed link."""
    response = manager_client.post(
        reverse("admin:properties_invitation_add"),
        {"organization": org.organization.pk, "email": email, "role": role},
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    return LINK.search(mail.outbox[-1].body).group(0)


def path_of(link: str) -> str:
    return link.removeprefix("http://testserver")


def lifetime(invitation) -> datetime.timedelta:
    lived = invitation.expires_at - invitation.created_at
    return datetime.timedelta(days=round(lived / datetime.timedelta(days=1), 3))


# ------------------------------------------------------------------------ inviting
def test_manager_invites_by_email_and_sees_the_link_once(manager_client, org_a):
    response = manager_client.post(
        reverse("admin:properties_invitation_add"),
        {"organization": org_a.organization.pk, "email": "Ana@Example.com", "role": "manager"},
        follow=True,
    )
    assert response.status_code == 200
    assert len(mail.outbox) == 1
    email = mail.outbox[0]
    assert email.to == ["Ana@example.com"]
    assert "Alpha" in email.subject
    link = LINK.search(email.body).group(0)
    # The admin shows the same link, once, for the manager to copy.
    shown = [str(m) for m in response.context["messages"]]
    assert any(link in message for message in shown)
    assert link not in manager_client.get(response.request["PATH_INFO"]).content.decode()
    invitation = Invitation.objects.get()
    assert invitation.organization == org_a.organization
    assert invitation.role == "manager"
    assert invitation.invited_by == org_a.manager
    assert lifetime(invitation) == datetime.timedelta(days=7)
    # Only a hash of the token is stored: the database cannot give the link back.
    token = path_of(link).split("/")[2]
    assert token not in invitation.token_hash


def test_the_link_shown_once_never_travels_in_a_cookie(manager_client, org_a):
    added = manager_client.post(
        reverse("admin:properties_invitation_add"),
        {"organization": org_a.organization.pk, "email": "ola@example.com", "role": "staff"},
    )
    shown = manager_client.get(added["Location"])
    link = LINK.search(mail.outbox[-1].body).group(0)
    token = path_of(link).split("/")[2]
    assert link in shown.content.decode()  # shown to the manager, once
    for response in (added, shown):
        assert "messages" not in response.cookies
        for morsel in response.cookies.values():
            assert token not in morsel.value
            assert token not in morsel.OutputString()
    assert "messages" not in manager_client.cookies
    assert all(token not in morsel.value for morsel in manager_client.cookies.values())


@override_settings(INVITATION_MAX_AGE_DAYS=2)
def test_the_link_lives_as_long_as_the_setting_says(manager_client, org_a):
    invite(manager_client, org_a)
    invitation = Invitation.objects.get()
    assert lifetime(invitation) == datetime.timedelta(days=2)


def test_inviting_again_replaces_the_earlier_link(manager_client, org_a):
    first = invite(manager_client, org_a)
    second = invite(manager_client, org_a, email="NEW.person@example.com")
    assert first != second
    response = manager_client.get(path_of(first))
    assert response.status_code == 410
    assert "withdrawn" in response.content.decode()
    assert Invitation.objects.filter(revoked_at__isnull=True).count() == 1


def test_a_member_is_not_invited_again(manager_client, org_a):
    response = manager_client.post(
        reverse("admin:properties_invitation_add"),
        {"organization": org_a.organization.pk, "email": org_a.staff.email, "role": "manager"},
    )
    assert response.status_code == 200
    assert "already a member" in str(response.context["adminform"].form.errors["email"])
    assert not Invitation.objects.exists()
    assert not mail.outbox


def test_staff_cannot_invite(staff_client, org_a):
    add_url = reverse("admin:properties_invitation_add")
    assert staff_client.get(add_url).status_code == 403
    assert staff_client.get(reverse("admin:properties_invitation_changelist")).status_code == 403
    response = staff_client.post(
        add_url,
        {"organization": org_a.organization.pk, "email": "friend@example.com", "role": "manager"},
    )
    assert response.status_code == 403
    assert not Invitation.objects.exists()
    assert not mail.outbox
    with pytest.raises(PermissionDenied):
        services.invitation_create(
            organization=org_a.organization,
            email="friend@example.com",
            role="manager",
            invited_by=org_a.staff,
            base_url="http://testserver",
        )


def test_manager_cannot_invite_into_another_organization(manager_client, org_a, org_b):
    response = manager_client.post(
        reverse("admin:properties_invitation_add"),
        {"organization": org_b.organization.pk, "email": "spy@example.com", "role": "manager"},
    )
    assert response.status_code == 200
    assert "organization" in response.context["adminform"].form.errors
    assert not Invitation.objects.exists()
    assert not mail.outbox
    with pytest.raises(PermissionDenied):
        services.invitation_create(
            organization=org_b.organization,
            email="spy@example.com",
            role="manager",
            invited_by=org_a.manager,
            base_url="http://testserver",
        )


def test_manager_who_is_staff_elsewhere_sees_only_managed_invitations(client, org_a, org_b):
    MembershipFactory(organization=org_b.organization, user=org_a.manager, role="staff")
    for org in (org_a, org_b):
        services.invitation_create(
            organization=org.organization,
            email=f"guest-of-{org.organization.pk}@example.com",
            role="staff",
            invited_by=org.manager,
            base_url="http://testserver",
        )
    client.force_login(org_a.manager)
    page = client.get(reverse("admin:properties_invitation_changelist"))
    assert [i.organization for i in page.context["cl"].result_list] == [org_a.organization]
    other = Invitation.objects.get(organization=org_b.organization)
    url = reverse("admin:properties_invitation_change", args=[other.pk])
    assert client.get(url).status_code == 404
    response = client.post(
        reverse("admin:properties_invitation_add"),
        {"organization": org_b.organization.pk, "email": "x@example.com", "role": "staff"},
    )
    assert "organization" in response.context["adminform"].form.errors


# ------------------------------------------------------------------------ accepting
def test_the_invited_person_signed_in_accepts(manager_client, org_a, client):
    link = invite(manager_client, org_a, email="Ana@example.com", role="manager")
    ana = UserFactory(username="ana", email="ana@EXAMPLE.com", is_staff=False)
    client.force_login(ana)
    page = client.get(path_of(link), follow=True)
    assert page.status_code == 200
    assert "Accept the invitation" in page.content.decode()
    response = client.post(path_of(link), {"action": "accept"})
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:index")
    membership = Membership.objects.get(organization=org_a.organization, user=ana)
    assert membership.role == "manager"
    ana.refresh_from_db()
    assert ana.is_staff  # members work in the admin
    invitation = Invitation.objects.get()
    assert invitation.accepted_by == ana
    assert invitation.accepted_at is not None


def test_the_invited_person_signs_in_on_the_page_and_accepts(manager_client, org_a, client):
    link = invite(manager_client, org_a, email="bo@example.com")
    bo = UserFactory(username="bo", email="bo@example.com")
    client.logout()
    page = client.get(path_of(link), follow=True)
    assert "Create your account" not in page.content.decode()  # bo has one
    response = client.post(
        path_of(link), {"action": "sign_in", "username": "bo", "password": "pw-for-tests"}
    )
    assert response.status_code == 302
    assert Membership.objects.get(organization=org_a.organization, user=bo).role == "staff"
    assert client.get(reverse("admin:index")).status_code == 200


def test_a_new_person_creates_an_account_and_accepts(manager_client, org_a, client):
    link = invite(manager_client, org_a, email="cleo@example.com")
    client.logout()
    response = client.post(
        path_of(link),
        {
            "action": "sign_up",
            "username": "cleo",
            "password1": "lantern-harbour-42",
            "password2": "lantern-harbour-42",
        },
    )
    assert response.status_code == 302
    cleo = get_user_model().objects.get(username="cleo")
    assert cleo.email == "cleo@example.com"
    assert cleo.check_password("lantern-harbour-42")
    assert cleo.is_staff
    assert Membership.objects.get(organization=org_a.organization, user=cleo).role == "staff"
    assert client.get(reverse("admin:index")).status_code == 200  # signed in


def test_the_token_leaves_the_address_bar_on_the_first_visit(manager_client, org_a, client):
    link = invite(manager_client, org_a, email="max@example.com")
    token = path_of(link).split("/")[2]
    client.logout()
    response = client.get(path_of(link))
    assert response.status_code == 302
    assert response["Location"] == reverse("invitation_page") == "/invitations/"
    page = client.get(response["Location"])
    assert page.status_code == 200
    html = page.content.decode()
    assert "Join Alpha" in html
    assert token not in html
    assert 'name="referrer"' not in html  # the site's same-origin policy applies
    # The session keeps the token's hash, as the database does, never the token.
    assert token not in str(dict(client.session.items()))
    # Another browser, which never opened the link, has no invitation there.
    other = Client()
    missing = other.get("/invitations/")
    assert missing.status_code == 404
    assert "Open the link from your invitation email again" in missing.content.decode()
    assert other.post("/invitations/", {"action": "sign_up"}).status_code == 404


def test_signing_out_on_the_page_keeps_the_invitation_open(manager_client, org_a, org_b, client):
    link = invite(manager_client, org_a, email="noa@example.com")
    client.force_login(org_b.manager)
    client.get(path_of(link))
    response = client.post("/invitations/", {"action": "sign_out"})
    assert response.status_code == 302
    assert response["Location"] == "/invitations/"
    page = client.get("/invitations/")
    assert "Sign in and accept" in page.content.decode()
    assert "_auth_user_id" not in client.session
    noa = UserFactory(username="noa", email="noa@example.com")
    client.post(
        "/invitations/", {"action": "sign_in", "username": "noa", "password": "pw-for-tests"}
    )
    assert Membership.objects.get(user=noa).organization == org_a.organization
    # Spent: the session forgets it.
    assert client.get("/invitations/").status_code == 404


def test_a_weak_password_or_taken_username_creates_nothing(manager_client, org_a, client):
    link = invite(manager_client, org_a, email="dan@example.com")
    client.logout()
    for username, password in [("dan", "123"), (org_a.staff.username, "lantern-harbour-42")]:
        response = client.post(
            path_of(link),
            {
                "action": "sign_up",
                "username": username,
                "password1": password,
                "password2": password,
            },
        )
        assert response.status_code == 200
        assert response.context["sign_up_form"].errors
    assert not get_user_model().objects.filter(email="dan@example.com").exists()
    assert Invitation.objects.get().accepted_at is None


def test_signed_in_as_someone_else_nothing_happens(manager_client, org_a, org_b, client):
    link = invite(manager_client, org_a, email="eve@example.com", role="manager")
    client.force_login(org_b.manager)
    page = client.get(path_of(link), follow=True)
    assert "This invitation is for eve@example.com" in page.content.decode()
    assert "Accept the invitation" not in page.content.decode()
    response = client.post(path_of(link), {"action": "accept"})
    assert response.status_code == 200
    assert "This invitation is for eve@example.com" in response.content.decode()
    assert not Membership.objects.filter(
        organization=org_a.organization, user=org_b.manager
    ).exists()
    assert Invitation.objects.get().accepted_at is None
    with pytest.raises(services.InvitationError) as refused:
        services.invitation_accept(token=path_of(link).split("/")[2], user=org_b.manager)
    assert refused.value.code == "wrong_person"


def test_signing_in_on_the_page_as_someone_else_does_nothing(manager_client, org_a, client):
    link = invite(manager_client, org_a, email="fay@example.com")
    UserFactory(username="fay", email="fay@example.com")
    client.logout()
    mallory = UserFactory(username="mallory", email="mallory@example.com")
    response = client.post(
        path_of(link), {"action": "sign_in", "username": "mallory", "password": "pw-for-tests"}
    )
    assert response.status_code == 200
    assert "This invitation is for fay@example.com" in response.content.decode()
    assert not Membership.objects.filter(user=mallory).exists()
    assert Invitation.objects.get().accepted_at is None


def test_an_expired_link_changes_nothing(manager_client, org_a, client):
    link = invite(manager_client, org_a, email="gus@example.com")
    gus = UserFactory(username="gus", email="gus@example.com")
    client.force_login(gus)
    with time_machine.travel(timezone.now() + datetime.timedelta(days=7, minutes=1)):
        page = client.get(path_of(link))
        assert page.status_code == 410
        assert "expired" in page.content.decode()
        response = client.post(path_of(link), {"action": "accept"})
        assert response.status_code == 410
    assert not Membership.objects.filter(user=gus).exists()
    # Just before the end it still works.
    with time_machine.travel(timezone.now() + datetime.timedelta(days=6, hours=23)):
        client.post(path_of(link), {"action": "accept"})
    assert Membership.objects.filter(user=gus, organization=org_a.organization).exists()


def test_a_tampered_link_changes_nothing(manager_client, org_a, client):
    link = invite(manager_client, org_a, email="hal@example.com")
    hal = UserFactory(username="hal", email="hal@example.com")
    client.force_login(hal)
    token = path_of(link).split("/")[2]
    tampered = token[:-1] + ("A" if token[-1] != "A" else "B")
    for bad in (tampered, token[:-5], "x"):
        url = reverse("invitation_accept", kwargs={"token": bad})
        assert client.get(url).status_code == 404
        response = client.post(url, {"action": "accept"})
        assert response.status_code == 404
        assert "not valid" in response.content.decode()
    assert not Membership.objects.filter(user=hal).exists()


def test_a_used_link_changes_nothing(manager_client, org_a, client):
    link = invite(manager_client, org_a, email="ida@example.com", role="staff")
    ida = UserFactory(username="ida", email="ida@example.com")
    client.force_login(ida)
    client.post(path_of(link), {"action": "accept"})
    membership = Membership.objects.get(user=ida)
    # Removed since, then the old link tried again: it is spent.
    services.membership_delete(membership=membership)
    response = client.post(path_of(link), {"action": "accept"})
    assert response.status_code == 410
    assert "already been used" in response.content.decode()
    assert not Membership.objects.filter(user=ida).exists()


def test_a_revoked_link_changes_nothing(manager_client, org_a, client):
    link = invite(manager_client, org_a, email="jo@example.com")
    invitation = Invitation.objects.get()
    response = manager_client.post(
        reverse("admin:properties_invitation_changelist"),
        {"action": "revoke", "_selected_action": [invitation.pk]},
    )
    assert response.status_code == 302
    invitation.refresh_from_db()
    assert invitation.revoked_at is not None
    jo = UserFactory(username="jo", email="jo@example.com")
    client.force_login(jo)
    response = client.post(path_of(link), {"action": "accept"})
    assert response.status_code == 410
    assert "withdrawn" in response.content.decode()
    assert not Membership.objects.filter(user=jo).exists()


def test_an_accepted_invitation_cannot_be_revoked(org_a):
    created = services.invitation_create(
        organization=org_a.organization,
        email="kim@example.com",
        role="staff",
        invited_by=org_a.manager,
        base_url="http://testserver",
    )
    kim = UserFactory(username="kim", email="kim@example.com")
    services.invitation_accept(token=created.link.split("/")[-2], user=kim)
    with pytest.raises(ValidationError):
        services.invitation_revoke(invitation=created.invitation)


# ------------------------------------------------------------------------ members
def membership_url(membership, view="change"):
    return reverse(f"admin:properties_membership_{view}", args=[membership.pk])


def test_manager_changes_a_role_and_removes_a_member(manager_client, org_a):
    staff = Membership.objects.get(user=org_a.staff)
    response = manager_client.post(membership_url(staff), {"role": "manager"})
    assert response.status_code == 302
    staff.refresh_from_db()
    assert staff.role == "manager"
    response = manager_client.post(membership_url(staff, "delete"), {"post": "yes"})
    assert response.status_code == 302
    assert not Membership.objects.filter(pk=staff.pk).exists()


def test_the_last_manager_is_neither_demoted_nor_removed(manager_client, org_a):
    last = Membership.objects.get(user=org_a.manager)
    response = manager_client.post(membership_url(last), {"role": "staff"})
    assert response.status_code == 200
    assert "last manager" in str(response.context["adminform"].form.errors["role"])
    # The delete page refuses before asking, and a crafted confirmation too.
    for request in (manager_client.get, manager_client.post):
        response = request(membership_url(last, "delete"), {"post": "yes"}, follow=True)
        assert "last manager" in " ".join(str(m) for m in response.context["messages"])
    last.refresh_from_db()
    assert last.role == "manager"
    with pytest.raises(ValidationError):
        services.membership_update(membership=last, role="staff")
    with pytest.raises(ValidationError):
        services.membership_delete(membership=last)
    assert Membership.objects.filter(pk=last.pk, role="manager").exists()


def test_with_another_manager_the_first_may_step_down(manager_client, org_a):
    MembershipFactory(organization=org_a.organization, role="manager")
    me = Membership.objects.get(user=org_a.manager)
    response = manager_client.post(membership_url(me), {"role": "staff"})
    assert response.status_code == 302
    me.refresh_from_db()
    assert me.role == "staff"


def test_manager_cannot_touch_another_organizations_members(manager_client, org_a, org_b):
    theirs = Membership.objects.get(user=org_b.staff)
    assert manager_client.post(membership_url(theirs), {"role": "manager"}).status_code == 404
    response = manager_client.post(membership_url(theirs, "delete"), {"post": "yes"})
    assert response.status_code == 404
    theirs.refresh_from_db()
    assert theirs.role == "staff"


def test_staff_cannot_change_or_remove_members(staff_client, org_a):
    manager = Membership.objects.get(user=org_a.manager)
    assert staff_client.post(membership_url(manager), {"role": "staff"}).status_code == 403
    response = staff_client.post(membership_url(manager, "delete"), {"post": "yes"})
    assert response.status_code == 403
    assert Membership.objects.filter(pk=manager.pk, role="manager").exists()


def test_superuser_still_adds_a_membership(client, org_a):
    client.force_login(UserFactory(username="root", is_superuser=True))
    person = UserFactory(username="lee", is_staff=False)
    response = client.post(
        reverse("admin:properties_membership_add"),
        {"organization": org_a.organization.pk, "user": person.pk, "role": "staff"},
    )
    assert response.status_code == 302
    assert Membership.objects.get(user=person).organization == org_a.organization
    person.refresh_from_db()
    assert person.is_staff


def test_a_manager_stepping_down_meanwhile_is_a_message_not_an_error(
    manager_client, org_a, monkeypatch
):
    # The form's check passed, then the other manager stepped down before the save.
    from django import forms

    from properties.admin import MembershipForm

    monkeypatch.setattr(MembershipForm, "clean", forms.ModelForm.clean)
    last = Membership.objects.get(user=org_a.manager)
    response = manager_client.post(membership_url(last), {"role": "staff"}, follow=True)
    assert response.status_code == 200
    assert "last manager" in " ".join(str(m) for m in response.context["messages"])
    last.refresh_from_db()
    assert last.role == "manager"


# ------------------------------------------------------------------- links to people
def test_people_on_membership_and_invitation_pages_link_where_managers_may_go(
    manager_client, org_a
):
    from django.test import Client

    link = invite(manager_client, org_a, email="ana@example.com", role="staff")
    ana = UserFactory(username="ana", email="ana@example.com", is_staff=False)
    ana_client = Client()
    ana_client.force_login(ana)
    ana_client.post(path_of(link), {"action": "accept"})

    invitation = Invitation.objects.get()
    page = manager_client.get(reverse("admin:properties_invitation_change", args=[invitation.pk]))
    html = page.content.decode()
    assert "/admin/auth/user/" not in html
    for user in (org_a.manager, ana):
        membership = Membership.objects.get(organization=org_a.organization, user=user)
        url = reverse("admin:properties_membership_change", args=[membership.pk])
        assert url in html
        assert manager_client.get(url).status_code == 200  # a page the manager may open

    membership = Membership.objects.get(user=ana)
    page = manager_client.get(reverse("admin:properties_membership_change", args=[membership.pk]))
    html = page.content.decode()
    assert "/admin/auth/user/" not in html
    assert "ana (ana@example.com)" in html
