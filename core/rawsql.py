"""Model instances from rows of plain SQL, converted as the ORM converts them (JSON parsed, dates
on SQLite), for the few hot statements written by hand (labeling's request path): building and
compiling a queryset there cost more than running the query."""

from django.db import connection
from django.db.models import Model

_converters: dict[tuple, list] = {}


def _column_converters(model: type[Model], fields: tuple[str, ...]) -> list:
    key = (connection.vendor, model, fields)
    if key not in _converters:
        found = []
        for name in fields:
            column = model._meta.get_field(name).get_col(model._meta.db_table)
            functions = connection.ops.get_db_converters(column) + column.get_db_converters(connection)
            found.append((column, functions))
        _converters[key] = found
    return _converters[key]


def model_from_row(model: type[Model], fields: tuple[str, ...], row) -> Model:
    """An instance of `model` as loaded by the ORM with only `fields` (attnames, in the row's
    order): any other field is read from the database when asked for."""
    return model.from_db(connection.alias, fields, values_from_rows(model, fields, [row])[0])


def values_from_rows(model: type[Model], fields: tuple[str, ...], rows) -> list[tuple]:
    """Rows of `fields` (attnames) of `model`, converted as the ORM's values_list converts them."""
    converters = _column_converters(model, fields)
    found = []
    for row in rows:
        values = list(row)
        for position, (column, functions) in enumerate(converters):
            for function in functions:
                values[position] = function(values[position], column, connection)
        found.append(tuple(values))
    return found
