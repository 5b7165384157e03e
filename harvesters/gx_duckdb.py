"""A SQLAlchemy dialect that lets Great Expectations run on DuckDB, over our Parquet output.

For the expectation types ``harvesters.suite_sql`` does not run itself, validation executes
them through GX as SQL in DuckDB (through duckdb-engine), reading the converted Parquet as a
view: DuckDB streams the file and spills to disk past its memory limit, so a table of any size
validates in bounded memory, and every expectation sees the whole table (uniqueness, row
counts) in one pass per metric. It is also the reference ``suite_sql`` is tested against.

Imported only when a validate task hands GX an expectation (``harvesters.validate``), never at
DAG parse.

duckdb-engine's own dialect needs three fixes to serve GX, hand-written because
neither library has them (GX 1.24 has no DuckDB support; duckdb-engine 0.17 is the
latest release):

* GX fetches a query's rows *after* its connection went back to the pool. The pool's
  rollback re-executes on the DuckDB connection, which is also its cursor, and so
  empties the pending result (duckdb_engine issue #1087, GX issue #10738: every
  aggregate metric fails with "list index out of range"). Validation only reads, so
  this dialect runs in DuckDB's autocommit mode: no BEGIN, COMMIT or ROLLBACK.
* GX chooses the SQL of regex expectations by ``issubclass(dialect.dialect, <PostgreSQL
  dialect>)`` (and LIKE patterns alike) and knows no DuckDB branch ("Regex is not
  supported for dialect duckdb"). DuckDB speaks PostgreSQL's ``~`` / ``!~`` (a partial
  match, as pandas' ``str.contains`` that GX uses on DataFrames) and LIKE, so this
  dialect answers that check with PostgreSQL's dialect (the one duckdb-engine derives from).
* Column reflection goes through PostgreSQL's catalog (``pg_collation``), which
  DuckDB 2 lacks; this dialect asks DuckDB itself (``DESCRIBE``), so GX's
  ``table.column_types`` and ``expect_column_values_to_be_in_type_list`` work.
"""

from __future__ import annotations

import duckdb_engine
from sqlalchemy import types as sqltypes
from sqlalchemy.dialects import postgresql, registry

DIALECT = "duckdb.harvest"  # connection strings start with "duckdb+harvest://"

# DuckDB type names (DESCRIBE) that PostgreSQL's ischema_names spell differently.
_ALIASES = {
    "double": "double precision",
    "float": "real",
    "decimal": "numeric",
    "timestamp with time zone": "timestamptz",
    "time with time zone": "timetz",
    "blob": "bytea",
}


class ReadOnlyDuckDBDialect(duckdb_engine.Dialect):
    supports_statement_cache = False  # as duckdb-engine's; SQLAlchemy asks each subclass to say so

    # Autocommit: see the module docstring (results must survive the connection's return).
    def do_begin(self, dbapi_connection) -> None:
        pass

    def do_commit(self, dbapi_connection) -> None:
        pass

    def do_rollback(self, dbapi_connection) -> None:
        pass

    @property
    def dialect(self) -> type:
        # Read by GX only where it expects a dialect module's ``.dialect``, to choose the SQL
        # of regex and LIKE expectations (see the module docstring).
        return postgresql.dialect

    def get_columns(self, connection, table_name, schema=None, **kw):
        name = self.identifier_preparer.quote(table_name)
        if schema:
            name = f"{self.identifier_preparer.quote_schema(schema)}.{name}"
        rows = connection.exec_driver_sql(f"DESCRIBE {name}").fetchall()
        return [
            {"name": column, "type": self._sqla_type(duck_type), "nullable": null != "NO", "default": None}
            for column, duck_type, null, *_ in rows
        ]

    def _sqla_type(self, duck_type: str) -> sqltypes.TypeEngine:
        base = duck_type.lower().split("(")[0].strip()
        cls = self.ischema_names.get(_ALIASES.get(base, base))
        return cls() if cls is not None else sqltypes.NullType()

    def get_pk_constraint(self, connection, table_name, schema=None, **kw):
        return {"constrained_columns": [], "name": None}


def register() -> None:
    """Make ``duckdb+harvest://`` connection strings use this dialect (idempotent)."""
    registry.register(DIALECT, __name__, "ReadOnlyDuckDBDialect")
