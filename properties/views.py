"""The invitation page: outside the admin, because the invited person may have no account."""

from django.contrib import messages
from django.contrib.auth import get_user_model, login, logout
from django.contrib.auth.forms import AuthenticationForm, UserCreationForm
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters

from . import services
from .models import Invitation
from .sign_in import sign_in


class InvitationSignUpForm(UserCreationForm):
    """A username and password for the invited address, which becomes the account's email."""

    def __init__(self, invitation: Invitation, *args, **kwargs):
        # Its fields' ids differ from the sign-in form's beside it (both have a username).
        kwargs.setdefault("auto_id", "id_sign_up_%s")
        super().__init__(*args, **kwargs)
        # The password validators compare the password with the email too.
        self.instance.email = invitation.email


def _joined(request, membership):
    request.session.pop(SESSION_KEY, None)  # spent
    messages.success(
        request,
        f"Welcome to {membership.organization}: you are a "
        f"{membership.get_role_display().lower()} there.",
    )
    return redirect("admin:index")


# Between requests the invitation page keeps only the hash of the link's token, in the
# session: the token itself leaves the address bar on the first visit.
SESSION_KEY = "invitation_token_hash"


@never_cache
@sensitive_post_parameters("password", "password1", "password2")
@csrf_protect
def invitation_accept(request, token: str):
    """The link from the email. A working link's token goes into the session and the
    browser moves on to the page without it (invitation_page), so that the token leaves
    the address bar and the history, and no Referer or log line of a later request carries
    it. A link that cannot be used says why right here: its token opens nothing.
    """
    token_hash = services.invitation_token_hash(token)
    try:
        services.invitation_find(token_hash=token_hash)
    except services.InvitationError as error:
        return _cannot_be_used(request, error)
    request.session[SESSION_KEY] = token_hash
    if request.method == "POST":
        # A form of the page as it was before it moved off the link: still answered.
        return _invitation(request, token_hash)
    return redirect("invitation_page")


@never_cache
@sensitive_post_parameters("password", "password1", "password2")
@csrf_protect
def invitation_page(request):
    """The invitation whose link this browser opened last: sign in (or sign up) and join."""
    token_hash = request.session.get(SESSION_KEY, "")
    if not token_hash:
        return _cannot_be_used(
            request,
            services.InvitationError(
                "No invitation is open in this browser. Open the link from your invitation "
                "email again.",
                code="invalid",
            ),
        )
    return _invitation(request, token_hash)


def _cannot_be_used(request, error: services.InvitationError):
    # 404 for a link that never existed; 410 for one that did and no longer works.
    status = 404 if error.code == "invalid" else 410
    return render(request, "properties/invitation.html", {"problem": error.message}, status=status)


def _invitation(request, token_hash: str):
    try:
        invitation = services.invitation_find(token_hash=token_hash)
    except services.InvitationError as error:
        return _cannot_be_used(request, error)

    user = request.user
    signed_in = user.is_authenticated
    sign_in_form = AuthenticationForm(request)
    sign_up_form = InvitationSignUpForm(invitation)
    problem = None
    action = request.POST.get("action") if request.method == "POST" else None
    try:
        if action == "sign_out" and signed_in:
            # Signing out empties the session: the invitation is put back into the new one,
            # so that the page reopens for the invited account.
            logout(request)
            request.session[SESSION_KEY] = token_hash
            return redirect("invitation_page")
        if action == "accept" and signed_in:
            return _joined(request, services.invitation_accept(token_hash=token_hash, user=user))
        if action == "sign_in" and not signed_in:
            sign_in_form = AuthenticationForm(request, data=request.POST)
            if sign_in_form.is_valid():
                user = sign_in_form.get_user()
                # A second factor, when the account needs one, comes before joining: the
                # page is shown again after it, to accept.
                second_step = sign_in(request, user, next_path=request.path)
                if second_step:
                    return second_step
                signed_in = True
                membership = services.invitation_accept(token_hash=token_hash, user=user)
                return _joined(request, membership)
        if action == "sign_up" and not signed_in:
            sign_up_form = InvitationSignUpForm(invitation, data=request.POST)
            if sign_up_form.is_valid():
                membership = services.invitation_accept_with_new_account(
                    token_hash=token_hash,
                    username=sign_up_form.cleaned_data["username"],
                    password=sign_up_form.cleaned_data["password1"],
                )
                login(
                    request, membership.user, backend="django.contrib.auth.backends.ModelBackend"
                )
                return _joined(request, membership)
    except services.InvitationError as error:
        problem = error.message

    wrong_person = signed_in and services.invitation_wrong_person(invitation=invitation, user=user)
    problem = problem or wrong_person or None
    has_account = (
        not signed_in and get_user_model().objects.filter(email__iexact=invitation.email).exists()
    )
    context = {
        "invitation": invitation,
        "problem": problem,
        "signed_in": signed_in,
        "email_matches": signed_in and not wrong_person,
        "has_account": has_account,
        "sign_in_form": sign_in_form,
        "sign_up_form": sign_up_form,
    }
    return render(request, "properties/invitation.html", context)
