"""List columns that stay cheap on large tables."""

from django.db.models import Count, IntegerField, OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce


def related_count(related: QuerySet, to: str) -> Coalesce:
    """How many rows of `related` point at each listed row through `to`, as a column.

    `annotate(Count(...))` joins and groups every row of the list, and the changelist's
    count, filters and date hierarchy then aggregate the whole table again; this
    subquery counts for the rows it is read for, and a query that does not select it
    (the count) leaves it out. Sortable like any annotation.
    """
    counted = (
        related.filter(**{to: OuterRef("pk")})
        .order_by()
        .values(to)
        .annotate(count=Count("pk"))
        .values("count")
    )
    return Coalesce(Subquery(counted, output_field=IntegerField()), Value(0))
