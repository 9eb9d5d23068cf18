"""A signed-in request's two reads, its session and its user, each one prepared statement
(core.rawsql): every page request makes both, and building and planning the ORM's queries for
them cost more than reading the rows (in a profile of a labeling page's submit the session read
was 13%, the user's row 10%). Sessions stay in the database as Django's backend keeps them;
writes, deletes and expiry stay Django's, and so does checking a password."""

from types import SimpleNamespace

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.sessions.backends.db import SessionStore as DatabaseSessionStore
from django.core.exceptions import PermissionDenied
from django.db import connections, router
from django.utils import timezone

from core.rawsql import execute, models_fetch_one, select_columns

# The backend a login names in its session (settings.AUTHENTICATION_BACKENDS).
LOGIN_BACKEND = "core.sessions.AccountBackend"


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


class AccountBackend(ModelBackend):
    """Django's ModelBackend, with the signed-in user's row read by one prepared statement.

    Listed before ModelBackend, which stays in the settings only so that sessions signed in
    before this backend existed (they name ModelBackend) stay signed in. A login it refuses ends
    here (PermissionDenied stops Django's walk through the backends, which still reports the
    failed login, to django-axes too), so ModelBackend never hashes the same wrong password a
    second time."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if user is None:
            raise PermissionDenied
        return user

    async def aauthenticate(self, request, username=None, password=None, **kwargs):
        user = await super().aauthenticate(request, username=username, password=password, **kwargs)
        if user is None:
            raise PermissionDenied
        return user

    def get_user(self, user_id):
        model = get_user_model()
        found = models_fetch_one(
            f"SELECT {select_columns((model, 'u'))} FROM {model._meta.db_table} AS u "
            f"WHERE u.{model._meta.pk.column} = %s",
            [user_id],
            model,
        )
        user = found[0] if found is not None else None
        return user if user is not None and self.user_can_authenticate(user) else None
