"""`manage.py create_api_token USERNAME --name NAME`: a new API token for a user, for operators who
script (e.g. `TOKEN=$(manage.py create_api_token maya --name nightly-export)`). The key is the only
line on standard output; it is shown once and only its digest is kept, as on the token page."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from core.errors import ApplicationError
from core.services import api_token_create


class Command(BaseCommand):
    help = "Create a named API token for USERNAME and print its key (shown only this once) on its own line."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument(
            "--name", required=True, help="What the token is for: the script or machine that will use it."
        )

    def handle(self, *args, username: str, name: str, **options):
        User = get_user_model()
        user = User.objects.filter(**{User.USERNAME_FIELD: username}).first()
        if user is None:
            raise CommandError(f"There is no user named {username!r}.")
        if not user.is_active:
            raise CommandError(f"The user {username!r} is inactive: their tokens would not authenticate.")
        try:
            token, key = api_token_create(user=user, name=name)
        except ApplicationError as exc:
            raise CommandError(exc.message) from None
        self.stderr.write(f"Created the token {token.name!r} for {username}; its key cannot be shown again.")
        self.stdout.write(key)
