"""django-q2 entry points: thin, called with ids, delegating to services."""

from .crew_messages import crew_messages_plan_missed
from .services import messages_plan_missed, messages_send_due, organization_replan
from .standing_messages import standing_messages_plan_missed


def send_due() -> int:
    """The periodic sweep: every email whose instant has come (each claimed), a guest's or
    a turnover assignee's or a standing access's crew member's, after planning the crew
    emails that no event planned."""
    crew_messages_plan_missed()
    standing_messages_plan_missed()
    return messages_send_due()


def send_message(message_id: int) -> int:
    """One email due now (a stay confirmed after its send instant, say)."""
    return messages_send_due(message_id=message_id)


def plan_missed() -> int:
    """The periodic catch-up: confirmed stays whose door-code email no event planned."""
    return messages_plan_missed()


def replan_organization(organization_id: int, after_check_in=None, after_pk=None) -> int:
    """An organization's templates changed: its coming stays follow, a chunk per task
    (`after_*`: where the previous task stopped)."""
    after = None if after_pk is None else (after_check_in, after_pk)
    return organization_replan(organization_id=organization_id, after=after)
