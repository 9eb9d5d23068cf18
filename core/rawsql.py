"""Model instances from rows of plain SQL, converted as the ORM converts them (JSON parsed, dates
on SQLite), for the few hot statements written by hand (labeling's request path): building and
compiling a queryset there cost more than running the query."""

import functools
import hashlib
import re

from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.db.models import Model
from django.db.models.base import ModelState
from django.db.models.signals import post_init, pre_init

_converters: dict[tuple, list] = {}
_select_lists: dict[tuple, str] = {}
_statements: dict[str, tuple[str, str, str]] = {}
_PLACEHOLDER = re.compile(r"%([%s])")


def execute(cursor, sql: str, params=(), before: str = "") -> None:
    """Run `sql` (with %s placeholders, %% for a percent sign) on `cursor`, a Django cursor.
    `before`, PostgreSQL only: statements without parameters (each ending in ";") sent in the
    same round trip ahead of it, such as a transaction's SET LOCAL settings.

    On PostgreSQL as a prepared statement of the cursor's connection, prepared on first use:
    PostgreSQL then plans it once per connection (its plan cache keeps the plan once it proves as
    good as a fresh one) instead of for every request. Planning the labeling path's dozen
    statements cost PostgreSQL about as much as running them (pg_stat_statements with
    track_planning). Only for SELECT, INSERT, UPDATE and DELETE statements whose parameter types
    PostgreSQL can infer from their context (a column, a cast): the statement's text names it.
    The PREPARE is not counted as a query (it goes to the driver's cursor), and it survives a
    rollback, so a statement is prepared once per connection whatever its transactions do."""
    db = cursor.db
    if before and (db.vendor != "postgresql" or "%" in before or not before.rstrip().endswith(";")):
        raise ValueError("`before`: PostgreSQL statements without parameters, each ending in ';'")
    if db.vendor != "postgresql" or not db.settings_dict["CONN_MAX_AGE"]:
        # Nothing to keep a plan on: a connection per request (CONN_MAX_AGE 0) would prepare
        # every statement on every request, one more round trip each.
        cursor.execute(before + sql, params)
        return
    found = _statements.get(sql)
    if found is None:
        found = _statements[sql] = prepared_texts(sql)
    name, prepare, run = found
    raw = db.connection
    state = db.__dict__.get("_rawsql_prepared")
    if state is None or state[0] is not raw:  # a new connection has none prepared
        state = db._rawsql_prepared = (raw, set())
    if name not in state[1]:
        with db.wrap_database_errors, raw.cursor() as driver:
            driver.execute(prepare)
        state[1].add(name)
    cursor.execute(before + run, params)


def prepared_texts(sql: str) -> tuple[str, str, str]:
    """The statement's name, its PREPARE (placeholders numbered) and its EXECUTE (placeholders
    for the driver)."""
    count = 0

    def number(match: re.Match) -> str:
        nonlocal count
        if match.group(1) == "%":
            return "%"
        count += 1
        return f"${count}"

    numbered = _PLACEHOLDER.sub(number, sql)
    name = "rawsql_" + hashlib.blake2b(sql.encode(), digest_size=10).hexdigest()
    arguments = f"({', '.join(['%s'] * count)})" if count else ""
    return name, f"PREPARE {name} AS {numbered}", f"EXECUTE {name}{arguments}"


def insert_sql(table: str, columns: tuple[str, ...], returning: str = "") -> str:
    """INSERT of one row of `columns` into `table` (%s placeholders), RETURNING `returning` if given."""
    marks = ", ".join(["%s"] * len(columns))
    sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"
    return f"{sql} RETURNING {returning}" if returning else sql


def _column_converters(model: type[Model], fields: tuple[str, ...], db=connection) -> list:
    key = (db.vendor, model, fields)
    if key not in _converters:
        found = []
        for name in fields:
            column = model._meta.get_field(name).get_col(model._meta.db_table)
            functions = db.ops.get_db_converters(column) + column.get_db_converters(db)
            found.append((column, functions))
        _converters[key] = found
    return _converters[key]


def model_from_row(model: type[Model], fields: tuple[str, ...], row) -> Model:
    """An instance of `model` as loaded by the ORM with only `fields` (attnames, in the row's
    order): any other field is read from the database when asked for.

    Built as Model.from_db builds it (the values in the instance's __dict__, its state "in the
    database"), without running Model.__init__, which set each value through the field list
    and cost several times more than the row's read on the labeling path; a model with init
    signal receivers (none of Concord's) is built by from_db itself."""
    db = connections[DEFAULT_DB_ALIAS]
    values = _converted(model, fields, row, db)
    if pre_init.has_listeners(model) or post_init.has_listeners(model):
        return model.from_db(db.alias, fields, values)
    instance = model.__new__(model)
    instance.__dict__.update(zip(fields, values, strict=True))
    state = instance._state = ModelState()
    state.adding = False
    state.db = db.alias
    return instance


def _converted(model: type[Model], fields: tuple[str, ...], row, db) -> list:
    values = list(row)
    for position, (column, functions) in enumerate(_column_converters(model, fields, db)):
        for function in functions:
            values[position] = function(values[position], column, db)
    return values


def values_from_rows(model: type[Model], fields: tuple[str, ...], rows) -> list[tuple]:
    """Rows of `fields` (attnames) of `model`, converted as the ORM's values_list converts them."""
    db = connections[DEFAULT_DB_ALIAS]
    return [tuple(_converted(model, fields, row, db)) for row in rows]


@functools.cache
def concrete_fields(model: type[Model]) -> tuple[str, ...]:
    return tuple(field.attname for field in model._meta.concrete_fields)


def select_columns(*models: tuple[type[Model], str]) -> str:
    """The select list of every concrete column of each (model, table alias), in field order;
    built once per database vendor (quoting each column through the connection proxy cost more
    than the statement it is written for)."""
    key = (connection.vendor, models)
    if key not in _select_lists:
        quote = connection.ops.quote_name
        columns = [(alias, field.column) for model, alias in models for field in model._meta.concrete_fields]
        _select_lists[key] = ", ".join(f"{alias}.{quote(column)}" for alias, column in columns)
    return _select_lists[key]


def models_fetch_one(sql: str, params: list, *models: type[Model]) -> tuple | None:
    """Run `sql`, whose select list is select_columns of `models` (in that order) and then any
    other values, and return the first row as one instance of each model followed by those
    values; None when there is no row."""
    with connection.cursor() as cursor:
        execute(cursor, sql, params)
        row = cursor.fetchone()
    return None if row is None else models_from_row(row, *models)


def models_from_row(row, *models: type[Model]) -> tuple:
    """A row whose first columns are select_columns of `models` as one instance of each model,
    followed by the row's other values."""
    found, start = [], 0
    for model in models:
        fields = concrete_fields(model)
        found.append(model_from_row(model, fields, row[start : start + len(fields)]))
        start += len(fields)
    return (*found, *row[start:])
