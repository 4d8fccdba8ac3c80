"""django-q2 entry points: thin, called with ids, delegating to services."""

from .crew import crew_tasks_notify_due
from .services import messages_plan_missed, messages_send_due, organization_replan


def send_due() -> int:
    """The periodic sweep: every guest email whose instant has come (each claimed), and
    every cleaner not yet told their turnover (a failed email tried again)."""
    return messages_send_due() + crew_tasks_notify_due()


def send_message(message_id: int) -> int:
    """One email due now (a stay confirmed after its send instant, say)."""
    return messages_send_due(message_id=message_id)


def plan_missed() -> int:
    """The periodic catch-up: confirmed stays whose door-code email no event planned."""
    return messages_plan_missed()


def replan_organization(organization_id: int) -> int:
    """An organization's templates changed: its coming stays follow."""
    return organization_replan(organization_id=organization_id)
