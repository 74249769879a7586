"""Hot-path writes and reads with SQL built once per model, not once per call.

The ORM compiles every ``create()``, ``update()`` and ``filter().first()`` afresh; on intake that
compilation cost more than the database work itself (about 0.3-0.8 ms per statement against
0.05-0.1 ms to execute it). These helpers build each statement's SQL once per (model, columns,
database vendor) and only bind values on each call. Values go through the same field methods
``Model.save()`` and ``QuerySet.update()`` use — ``pre_save`` (``auto_now``),
``get_db_prep_save`` (encryption, JSON, datetimes) — and rows come back through the fields'
converters (decryption, JSON, datetimes), so the stored and loaded values are identical.

No model signals are sent. refdesk registers no model signal receivers; a test keeps it so for
the models written here (``refdesk/core/tests/test_sql.py``).

Use them only where a benchmark shows the ORM's compile time matters (intake); everywhere else
the ORM is clearer. ``bench/sql_paths.py`` times each hand-written statement of a partner
submission against its ORM equivalent: together they save 3.9 ms per submission on SQLite
(1.0 ms against 4.9 ms) and 5.2 ms on PostgreSQL (4.0 against 9.1 ms), where a whole submission
costs about 6-7 ms of CPU. Each call site names its own figure.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import cache
from typing import Any

from django.db import connections, models


def _q(name: str, using: str) -> str:
    return connections[using].ops.quote_name(name)


def _check_fields(model: type[models.Model], fields: Iterable[models.Field]) -> None:
    for field in fields:
        if hasattr(field, "get_placeholder") or getattr(field, "generated", False):
            raise TypeError(f"{model.__name__}.{field.name}: needs the ORM (placeholder/generated)")


@cache
def _insert_plan(model: type[models.Model], using: str) -> tuple[str, tuple, bool]:
    connection = connections[using]
    opts = model._meta
    fields = tuple(f for f in opts.concrete_fields if f is not opts.pk or not _is_auto(f))
    _check_fields(model, fields)
    columns = ", ".join(_q(f.column, using) for f in fields)
    placeholders = ", ".join(["%s"] * len(fields))
    sql = f"INSERT INTO {_q(opts.db_table, using)} ({columns}) VALUES ({placeholders})"
    returning = _is_auto(opts.pk) and connection.features.can_return_columns_from_insert
    if returning:
        sql += f" RETURNING {_q(opts.pk.column, using)}"
    return sql, fields, returning


def _is_auto(field: models.Field) -> bool:
    return isinstance(field, models.AutoField | models.BigAutoField | models.SmallAutoField)


def _values(obj: models.Model, fields: Sequence[models.Field], using: str, *, add: bool) -> list:
    connection = connections[using]
    return [field.get_db_prep_save(field.pre_save(obj, add), connection) for field in fields]


def insert[M: models.Model](obj: M, *, using: str = "default") -> M:
    """``obj.save()`` for a new row (force_insert), with SQL built once per model."""
    sql, fields, returning = _insert_plan(type(obj), using)
    params = _values(obj, fields, using, add=True)
    with connections[using].cursor() as cursor:
        cursor.execute(sql, params)
        if returning:
            pk = cursor.fetchone()[0]
        elif _is_auto(obj._meta.pk):
            pk = cursor.lastrowid
        else:
            pk = None
    if pk is not None:
        obj.pk = pk
    obj._state.adding = False
    obj._state.db = using
    return obj


def insert_many[M: models.Model](objs: Sequence[M], *, using: str = "default") -> None:
    """Several new rows of one model in one statement; primary keys are read back in order,
    as ``bulk_create`` does, where the database returns them."""
    if not objs:
        return
    model = type(objs[0])
    sql, fields, returning = _insert_plan(model, using)
    head, _, row = sql.partition(" VALUES ")
    row, _, returning_sql = row.partition(" RETURNING ")
    params: list[Any] = []
    for obj in objs:
        if type(obj) is not model:
            raise TypeError("insert_many takes rows of one model")
        params += _values(obj, fields, using, add=True)
    statement = f"{head} VALUES {', '.join([row] * len(objs))}"
    if returning:
        statement += f" RETURNING {returning_sql}"
    with connections[using].cursor() as cursor:
        cursor.execute(statement, params)
        pks = [r[0] for r in cursor.fetchall()] if returning else [None] * len(objs)
    for obj, pk in zip(objs, pks, strict=True):
        if pk is not None:
            obj.pk = pk
        obj._state.adding = False
        obj._state.db = using


@cache
def _update_plan(
    model: type[models.Model],
    names: tuple[str, ...],
    where: tuple[tuple[str, bool], ...],
    using: str,
) -> tuple[str, tuple, tuple]:
    opts = model._meta
    fields = tuple(opts.get_field(name) for name in names)
    conditions = tuple(opts.get_field(name) for name, _is_null in where)
    _check_fields(model, fields + conditions)
    assignments = ", ".join(f"{_q(f.column, using)} = %s" for f in fields)
    tests = [f"{_q(opts.pk.column, using)} = %s"] + [
        f"{_q(field.column, using)} " + ("IS NULL" if is_null else "= %s")
        for field, (_name, is_null) in zip(conditions, where, strict=True)
    ]
    sql = f"UPDATE {_q(opts.db_table, using)} SET {assignments} WHERE {' AND '.join(tests)}"
    return (
        sql,
        fields,
        tuple(f for f, (_n, is_null) in zip(conditions, where, strict=True) if not is_null),
    )


def update(
    obj: models.Model,
    values: dict[str, Any],
    *,
    where: dict[str, Any] | None = None,
    using: str = "default",
) -> int:
    """``Model.objects.filter(pk=obj.pk, **where).update(**values)``; returns the rows changed.

    ``values`` and ``where`` name fields (``queue``, not ``queue_id``); ``where`` tests equality,
    or ``IS NULL`` for a value of None. ``obj`` itself is not changed.
    """
    where = where or {}
    shape = tuple((name, value is None) for name, value in where.items())
    sql, fields, conditions = _update_plan(type(obj), tuple(values), shape, using)
    connection = connections[using]
    params = [
        field.get_db_prep_save(_raw(field, value), connection)
        for field, value in zip(fields, values.values(), strict=True)
    ]
    params.append(obj._meta.pk.get_db_prep_value(obj.pk, connection))
    params += [
        field.get_db_prep_value(_raw(field, value), connection, prepared=False)
        for field, value in zip(
            conditions, [v for v in where.values() if v is not None], strict=True
        )
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def _raw(field: models.Field, value: Any) -> Any:
    """A model instance for a foreign key becomes its primary key."""
    if field.is_relation and isinstance(value, models.Model):
        return value.pk
    return value


def select[M: models.Model](
    model: type[M], where: str, params: Sequence[Any], *, using: str = "default"
) -> list[M]:
    """``model.objects.filter(...)`` for a WHERE clause (columns by name, ``%s`` placeholders),
    every field loaded through its converters, as a queryset would."""
    return select_related(model, (), where, params, using=using)


@cache
def _related_plan(
    model: type[models.Model], path: tuple[str, ...], where: str, using: str
) -> tuple[str, tuple, tuple]:
    """SELECT of ``model`` (alias t0) joined along a chain of foreign keys (t1, t2, ...)."""
    connection = connections[using]
    chain, links, joins, columns, converters = [model], [], [], [], []
    for step, name in enumerate(path):
        field = chain[-1]._meta.get_field(name)
        if not field.many_to_one or field.null:
            raise TypeError(f"{chain[-1].__name__}.{name}: only required foreign keys join here")
        target = field.related_model
        here, there = f"t{step}.{_q(field.column, using)}", f"t{step + 1}"
        joins.append(
            f"JOIN {_q(target._meta.db_table, using)} {there} "
            f"ON {there}.{_q(target._meta.pk.column, using)} = {here}"
        )
        chain.append(target)
        links.append(field)
    for step, current in enumerate(chain):
        for field in current._meta.concrete_fields:
            columns.append(f"t{step}.{_q(field.column, using)}")
            col = field.get_col(f"t{step}")
            converters.append(
                (
                    tuple(connection.ops.get_db_converters(col))
                    + tuple(field.get_db_converters(connection)),
                    col,
                )
            )
    table = _q(model._meta.db_table, using)
    sql = f"SELECT {', '.join(columns)} FROM {table} t0 {' '.join(joins)} WHERE {where}"
    return sql, tuple(zip(chain, links + [None], strict=True)), tuple(converters)


def select_related[M: models.Model](
    model: type[M], path: Sequence[str], where: str, params: Sequence[Any], *, using="default"
) -> list[M]:
    """``model.objects.select_related("a__b__c").filter(...)`` for one chain of required
    foreign keys, with SQL built once: ``path`` names each step (``("a", "b", "c")``); the
    WHERE clause names the first model's columns as ``t0.column``."""
    sql, chain, converters = _related_plan(model, tuple(path), where, using)
    connection = connections[using]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    result = []
    for row in rows:
        values = list(row)
        for index, (functions, col) in enumerate(converters):
            for function in functions:
                values[index] = function(values[index], col, connection)
        start, previous, previous_link = 0, None, None
        for current, link in chain:
            width = len(current._meta.concrete_fields)
            instance = current.from_db(using, None, values[start : start + width])
            start += width
            if previous is None:
                result.append(instance)
            else:
                previous_link.set_cached_value(previous, instance)
            previous, previous_link = instance, link
    return result


def loaded[M: models.Model](model: type[M], using: str = "default", **values: Any) -> M:
    """An instance of ``model`` with only ``values`` loaded (the rest deferred), as ``only()``
    would give, for values already read by hand-written SQL (no converters are applied: pass
    Python values)."""
    names = [f.attname for f in model._meta.concrete_fields if f.attname in values]
    if len(names) != len(values):
        raise TypeError(f"{model.__name__}: unknown columns {set(values) - set(names)}")
    return model.from_db(using, names, [values[name] for name in names])
