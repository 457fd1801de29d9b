"""SQL helpers for the bulk paths (a page of 100 records at a time)."""
from collections.abc import Collection
from typing import Any

from django.core.exceptions import EmptyResultSet
from django.db import connection
from django.db.models import F, Lookup


class AnyOf(Lookup):
    """``field = ANY(%s)`` with the values as one array parameter on PostgreSQL; ``field IN (…)`` elsewhere.

    Use as ``queryset.filter(any_of("email", emails))``. With an ``IN`` list of 100 literals PostgreSQL spent
    more time planning (each item is estimated on its own) and the client more time quoting than the query
    took to run. An array joined through a sub-select plans quickly too, but on an account whose statistics
    are stale (a pull fills it from nothing) the planner then scanned every row of the organisation for each
    page; ``= ANY`` is an index condition, so it is an index lookup whatever the statistics say.
    """

    lookup_name = "any_of"
    prepare_rhs = False

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        values = list(self.rhs)
        if not values:
            raise EmptyResultSet
        return f"{lhs} IN ({', '.join(['%s'] * len(values))})", [*lhs_params, *values]

    def as_postgresql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        return f"{lhs} = ANY(%s)", [*lhs_params, list(self.rhs)]


def any_of(field: str, values: Collection[Any]) -> AnyOf:
    return AnyOf(F(field), list(values))


def in_values(column: str, values: Collection[Any]) -> tuple[str, list[Any]]:
    """Raw-SQL form of `any_of`: ``(sql, params)`` for ``column = ANY(%s)`` on PostgreSQL, ``column IN (…)``
    elsewhere. ``values`` must not be empty."""
    values = list(values)
    if connection.vendor == "postgresql":
        return f"{column} = ANY(%s)", [values]
    return f"{column} IN ({', '.join(['%s'] * len(values))})", values


def json_literal(text: str) -> str:
    """A JSON constant as the database compares JSONField columns with it (``'[]'::jsonb`` on PostgreSQL)."""
    return f"'{text}'::jsonb" if connection.vendor == "postgresql" else f"'{text}'"
