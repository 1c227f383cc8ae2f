"""PostgreSQL test databases, made once and reused: what a test gets is indistinguishable
from a fresh `CREATE DATABASE ... TEMPLATE` copy, but much cheaper to make.

On this server a `CREATE DATABASE` from a template costs 0.1-0.8 s (the whole database,
catalogues included, goes through the WAL) and a `DROP DATABASE` 0.2-1.4 s (it forces a
checkpoint): most of a PostgreSQL run's time when each test had a database of its own. So a
database a test has finished with is kept (`release`), and the next test that asks for a copy
of the same template gets it back reset to the template's contents (`checkout`):

- every other session on it is terminated, and waited for, first (a test that killed a
  process leaves its connection behind);
- its schema (tables, columns, defaults, constraints, indexes, triggers, functions, views,
  types, sequences, grants...) is compared with the template's: if the test changed it, or
  left a prepared transaction, the database is dropped and a fresh copy made instead;
- every table is emptied (DELETE: a TRUNCATE of the store's tables takes a second, it
  scans the buffer cache once per relation) and refilled with the template's rows (COPY,
  binary: the rows exactly as PostgreSQL wrote them), foreign-key checks and triggers off
  for that transaction only (`session_replication_role = replica`); every sequence is set
  back to where the template's was.

Databases made here also get `synchronous_commit = off` (a database setting, so every
connection to them has it, the product's and the subprocesses' too): commits no longer wait
for the WAL to reach the disk. It changes nothing a test can see but what survives a crash
of the server itself, which no test does.

Databases without a template (the migration tests' empty ones) are made and dropped as
before. What is left over is dropped when the process ends.
"""

from __future__ import annotations

import atexit
import threading
import time
import uuid
from dataclasses import dataclass

import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

PREFIX = "tenantctl_test_"

# Namespaces that hold the store (not the system's, nor sessions' temporary ones).
_USER_NS = (
    "n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_(toast|temp)'"
)

# One line per schema object (and per thing a test could leave behind that a fresh copy
# would not have); two databases with the same lines have the same schema.
_SCHEMA = f"""
SELECT concat_ws(' ', 'ns', n.nspname, n.nspowner::regrole, n.nspacl)
  FROM pg_namespace n WHERE {_USER_NS}
UNION ALL
SELECT concat_ws(' ', 'rel', c.oid::regclass, c.relkind, c.relpersistence, c.relowner::regrole,
                 c.relacl, c.relrowsecurity, c.reloptions)
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE {_USER_NS}
UNION ALL
SELECT concat_ws(' ', 'col', a.attrelid::regclass, a.attnum, a.attname,
                 format_type(a.atttypid, a.atttypmod), a.attnotnull, a.attidentity,
                 a.attgenerated, pg_get_expr(d.adbin, d.adrelid), a.attacl)
  FROM pg_attribute a
  JOIN pg_class c ON c.oid = a.attrelid
  JOIN pg_namespace n ON n.oid = c.relnamespace
  LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
 WHERE {_USER_NS} AND a.attnum > 0 AND NOT a.attisdropped
UNION ALL
SELECT concat_ws(' ', 'con', co.conrelid::regclass, co.conname, co.contype,
                 pg_get_constraintdef(co.oid), co.condeferrable, co.condeferred)
  FROM pg_constraint co JOIN pg_namespace n ON n.oid = co.connamespace WHERE {_USER_NS}
UNION ALL
SELECT concat_ws(' ', 'idx', pg_get_indexdef(i.indexrelid))
  FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
  JOIN pg_namespace n ON n.oid = c.relnamespace WHERE {_USER_NS}
UNION ALL
SELECT concat_ws(' ', 'trg', t.tgname, t.tgenabled, pg_get_triggerdef(t.oid))
  FROM pg_trigger t WHERE NOT t.tgisinternal
UNION ALL
SELECT concat_ws(' ', 'fn', p.oid::regprocedure, p.prokind, md5(p.prosrc), p.proacl,
                 p.proconfig)
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE {_USER_NS}
UNION ALL
SELECT concat_ws(' ', 'view', c.oid::regclass, pg_get_viewdef(c.oid))
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE {_USER_NS} AND c.relkind IN ('v', 'm')
UNION ALL
SELECT concat_ws(' ', 'seq', s.seqrelid::regclass, s.seqtypid::regtype, s.seqstart,
                 s.seqincrement, s.seqmax, s.seqmin, s.seqcache, s.seqcycle)
  FROM pg_sequence s
UNION ALL
SELECT concat_ws(' ', 'dep', d.objid::regclass, d.refobjid::regclass, d.refobjsubid, d.deptype)
  FROM pg_depend d
 WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass
   AND d.objid IN (SELECT seqrelid FROM pg_sequence)
UNION ALL
SELECT concat_ws(' ', 'type', t.oid::regtype, t.typtype)
  FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace WHERE {_USER_NS}
UNION ALL
SELECT concat_ws(' ', 'enum', e.enumtypid::regtype, e.enumsortorder, e.enumlabel)
  FROM pg_enum e
UNION ALL
SELECT concat_ws(' ', 'rule', r.schemaname, r.tablename, r.rulename, r.definition)
  FROM pg_rules r WHERE r.schemaname NOT IN ('pg_catalog', 'information_schema')
UNION ALL
SELECT concat_ws(' ', 'policy', p.polrelid::regclass, p.polname) FROM pg_policy p
UNION ALL
SELECT concat_ws(' ', 'ext', x.extname, x.extversion) FROM pg_extension x
UNION ALL
SELECT concat_ws(' ', 'evt', e.evtname) FROM pg_event_trigger e
UNION ALL
SELECT concat_ws(' ', 'dbset', s.setrole, s.setconfig)
  FROM pg_db_role_setting s
 WHERE s.setdatabase = (SELECT oid FROM pg_database WHERE datname = current_database())
UNION ALL
SELECT concat_ws(' ', 'lo', l.oid) FROM pg_largeobject_metadata l
UNION ALL
SELECT concat_ws(' ', 'prepared', x.gid) FROM pg_prepared_xacts x
 WHERE x.database = current_database()
"""

_TABLES = f"""
SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname)
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE {_USER_NS} AND c.relkind IN ('r', 'p')
 ORDER BY 1
"""

_SEQUENCES = f"""
SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname)
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE {_USER_NS} AND c.relkind = 'S'
 ORDER BY 1
"""


@dataclass
class _Snapshot:
    """What a template holds: its schema's lines, each table's rows, each sequence's state."""

    schema: list[str]
    tables: list[str]
    rows: dict[str, bytes]
    sequences: dict[str, tuple[int, bool]]


def _schema(conn: psycopg.Connection) -> list[str]:
    return sorted(line for (line,) in conn.execute(_SCHEMA))


def _snapshot(conn: psycopg.Connection) -> _Snapshot:
    tables = [name for (name,) in conn.execute(_TABLES)]
    rows = {}
    with conn.cursor() as cur:
        for table in tables:
            with cur.copy(f"COPY {table} TO STDOUT (FORMAT binary)") as copy:
                data = b"".join(bytes(chunk) for chunk in copy)
            if conn.execute(f"SELECT EXISTS (SELECT FROM {table})").fetchone()[0]:
                rows[table] = data
    sequences = {
        seq: conn.execute(f"SELECT last_value, is_called FROM {seq}").fetchone()
        for (seq,) in conn.execute(_SEQUENCES).fetchall()
    }
    return _Snapshot(_schema(conn), tables, rows, sequences)


class Pool:
    """The test databases of one server (`server_url`: any database URL on it)."""

    def __init__(self, server_url: str):
        url = make_url(server_url).set(drivername="postgresql")
        self._url = url
        self._admin_conninfo = url.set(database="postgres").render_as_string(hide_password=False)
        self._lock = threading.RLock()
        self._free: dict[str, list[str]] = {}  # template -> databases copied from it, free
        self._template_of: dict[str, str] = {}  # database -> the template it is a copy of
        self._snapshots: dict[str, _Snapshot] = {}  # template -> what it holds
        self._known: set[str] = set()  # every database made here and not dropped
        atexit.register(self.close)

    # --- the public side -------------------------------------------------------------

    def url(self, name: str) -> str:
        return (
            make_url(self._url.render_as_string(hide_password=False))
            .set(drivername="postgresql+psycopg", database=name)
            .render_as_string(hide_password=False)
        )

    def checkout(self, template: str | None = None) -> str:
        """The name of a database that is a copy of TEMPLATE (or empty, without one)."""
        with self._lock:
            if template is not None:
                while self._free.get(template):
                    name = self._free[template].pop()
                    if self._reset(name, template):
                        self._template_of[name] = template
                        return name
                    self._drop(name)
            name = f"{PREFIX}{uuid.uuid4().hex[:12]}"
            clause = (
                sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
                if template
                else sql.SQL("")
            )
            with self._admin() as conn:
                conn.execute(sql.SQL("CREATE DATABASE {}{}").format(sql.Identifier(name), clause))
                conn.execute(
                    sql.SQL("ALTER DATABASE {} SET synchronous_commit = off").format(
                        sql.Identifier(name)
                    )
                )
            self._known.add(name)
            if template is not None:
                self._template_of[name] = template
            return name

    def release(self, name: str) -> None:
        """The test is done with database NAME: keep it for the next copy of its template
        (one made without a template is dropped)."""
        with self._lock:
            self._forget_as_template(name)
            template = self._template_of.pop(name, None)
            if name not in self._known or template is None:
                self._drop(name)
                return
            self._free.setdefault(template, []).append(name)

    def close(self) -> None:
        """Drop every database made here that is still there."""
        with self._lock:
            for name in sorted(self._known):
                self._drop(name)
            self._free.clear()

    # --- the inside ------------------------------------------------------------------

    def _forget_as_template(self, name: str) -> None:
        """NAME is released or dropped: the free copies of it, and what it held, go."""
        for copy in self._free.pop(name, []):
            self._drop(copy)
        self._snapshots.pop(name, None)

    def _admin(self) -> psycopg.Connection:
        return psycopg.connect(self._admin_conninfo, autocommit=True)

    def _connect(self, name: str) -> psycopg.Connection:
        return psycopg.connect(self._url.set(database=name).render_as_string(hide_password=False))

    def _drop(self, name: str) -> None:
        self._forget_as_template(name)
        with self._admin() as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
        self._known.discard(name)
        self._template_of.pop(name, None)

    def _template_snapshot(self, template: str) -> _Snapshot:
        if template not in self._snapshots:
            with self._connect(template) as conn:
                self._snapshots[template] = _snapshot(conn)
        return self._snapshots[template]

    def _alone(self, name: str) -> None:
        """End every other session on NAME and wait until they are gone."""
        with self._admin() as conn:
            deadline = time.monotonic() + 30
            while True:
                left = conn.execute(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = %s AND pid <> pg_backend_pid()",
                    (name,),
                ).fetchone()[0]
                if not left:
                    return
                if time.monotonic() > deadline:
                    raise RuntimeError(f"sessions on {name} do not end")
                time.sleep(0.01)

    def _reset(self, name: str, template: str) -> bool:
        """Make NAME hold what TEMPLATE holds; False if it cannot be (its schema changed, or
        the server refuses: `session_replication_role` wants a superuser)."""
        snapshot = self._template_snapshot(template)
        self._alone(name)
        try:
            with self._connect(name) as conn:
                if _schema(conn) != snapshot.schema:
                    return False
                conn.execute("SET session_replication_role = replica")
                with conn.cursor() as cur:
                    for table in snapshot.tables:
                        cur.execute(f"DELETE FROM {table}")
                    for table, data in snapshot.rows.items():
                        with cur.copy(f"COPY {table} FROM STDIN (FORMAT binary)") as copy:
                            copy.write(data)
                    for seq, (last_value, is_called) in snapshot.sequences.items():
                        cur.execute("SELECT setval(%s, %s, %s)", (seq, last_value, is_called))
                conn.commit()
        except psycopg.Error:
            return False
        self._alone(name)
        return True


_POOLS: dict[str, Pool] = {}


def pool(server_url: str) -> Pool:
    key = make_url(server_url).set(database="postgres").render_as_string(hide_password=False)
    if key not in _POOLS:
        _POOLS[key] = Pool(server_url)
    return _POOLS[key]
