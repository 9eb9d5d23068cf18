"""Sessions in the database, as Django's database backend keeps them, read with one prepared
statement (core.rawsql.execute): every page request reads its session, and building and planning
the ORM's query for it cost more than reading the row (the read was 13% of a labeling page's
submit in a profile). Writes, deletes and expiry stay Django's."""

from types import SimpleNamespace

from django.contrib.sessions.backends.db import SessionStore as DatabaseSessionStore
from django.db import connections, router
from django.utils import timezone

from core.rawsql import execute


class SessionStore(DatabaseSessionStore):
    def _get_session_from_db(self):
        """The unexpired row of this session key (only its data, which is all `load` reads), or
        None, which forgets the key as Django's backend does."""
        table = self.model._meta.db_table
        connection = connections[router.db_for_read(self.model)]
        now = connection.ops.adapt_datetimefield_value(timezone.now())
        with connection.cursor() as cursor:
            execute(
                cursor,
                f"SELECT session_data FROM {table} WHERE session_key = %s AND expire_date > %s",
                [self.session_key, now],
            )
            row = cursor.fetchone()
        if row is None:
            self._session_key = None
            return None
        return SimpleNamespace(session_data=row[0])
