"""Many rows into one table, hundreds per statement, for bulk writes (the listing import).

Each app writes its own tables with it (properties' listings, locks' assignments): the
SQL is generic, the rows are the owner's.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db import connections, models, router
from django.db.models import NOT_PROVIDED

WRITE_BATCH = 500


def insert_many(
    model: type[models.Model], columns: Sequence[str], rows: list[tuple], *, omitted=None
) -> None:
    """INSERT rows of `columns` (field attnames), hundreds of rows per statement; every
    other column, and every cell that is `omitted`, takes the model's default as
    `bulk_create` gives it.

    Not `bulk_create`: building a model instance per row and its SQL value by value costs
    most of a second per 10,000 rows, more than SQLite takes to write them. Not one
    executemany either: PostgreSQL would parse and plan every row's INSERT on its own.
    Sends no signal (neither does `bulk_create`).
    """
    if not rows:
        return
    db = connections[router.db_for_write(model)]  # not the proxy: one lookup, not one a value
    given = [model._meta.get_field(name) for name in columns]
    others = [
        f
        for f in model._meta.concrete_fields
        if not f.primary_key and f not in given and f.db_default is NOT_PROVIDED
    ]
    template = model()  # holds the model's defaults

    def default(f: models.Field):
        # A callable default (a fresh uuid…) is called per row, as `bulk_create` does.
        if f.has_default() and callable(f.default):
            return lambda: f.get_db_prep_save(f.get_default(), db)
        # Every row gets the same value (`created_at`: one instant for the whole insert).
        value = f.get_db_prep_save(f.pre_save(template, True), db)
        return lambda: value

    def converter(f: models.Field):
        memo: dict = {}  # few distinct values in most columns (times, ids, flags)
        fill = default(f)

        def convert(value):
            if value is omitted:
                return fill()
            key = (type(value), value)  # True and 1 are equal keys, not equal values
            try:
                return memo[key]
            except KeyError:
                memo[key] = db_value = f.get_db_prep_save(value, db)
                return db_value
            except TypeError:  # not hashable
                return f.get_db_prep_save(value, db)

        return convert

    converters = [converter(f) for f in given]
    fills = [default(f) for f in others]
    fields = given + others
    quote = db.ops.quote_name
    head = "INSERT INTO {} ({}) ".format(
        quote(model._meta.db_table), ", ".join(quote(f.column) for f in fields)
    )
    size = max(1, min(WRITE_BATCH, db.ops.bulk_batch_size(fields, rows)))
    with db.cursor() as cursor:
        for start in range(0, len(rows), size):
            batch = rows[start : start + size]
            params = []
            for row in batch:
                params.extend(
                    [convert(value) for convert, value in zip(converters, row, strict=True)]
                )
                params.extend(fill() for fill in fills)
            values = db.ops.bulk_insert_sql(fields, [["%s"] * len(fields)] * len(batch))
            cursor.execute(head + values, params)


def update_many(model: type[models.Model], objs: Sequence[models.Model], fields: Sequence[str]):
    """UPDATE each of `objs` (saved instances) with its values of `fields` (field names),
    in one prepared statement run for every row (executemany).

    Not `bulk_update`: its CASE WHEN expression for every row and field costs seconds of
    CPU per few thousand rows; here each value is converted once, as `save` would. Like
    `bulk_update`, it calls no `save()`, sends no signal and sets no `auto_now` field: the
    caller sets what must change.
    """
    if not objs:
        return
    db = connections[router.db_for_write(model)]
    given = [model._meta.get_field(name) for name in fields]
    quote = db.ops.quote_name
    pk = model._meta.pk
    sql = "UPDATE {} SET {} WHERE {} = %s".format(
        quote(model._meta.db_table),
        ", ".join(f"{quote(f.column)} = %s" for f in given),
        quote(pk.column),
    )
    rows = [
        [f.get_db_prep_save(getattr(obj, f.attname), db) for f in given]
        + [pk.get_db_prep_save(obj.pk, db)]
        for obj in objs
    ]
    with db.cursor() as cursor:
        for start in range(0, len(rows), WRITE_BATCH):
            cursor.executemany(sql, rows[start : start + WRITE_BATCH])
