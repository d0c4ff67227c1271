"""The one way settings read the environment: django-environ, made strict."""

import environ
from django.core.exceptions import ImproperlyConfigured

TRUE_STRINGS = {"1", "true", "yes", "on"}
FALSE_STRINGS = {"0", "false", "no", "off", ""}


class StrictEnv(environ.Env):
    """A value that cannot be read as its type stops start-up with the variable's name.

    django-environ quietly reads any unknown boolean as False (`DEBUG=ture` would turn
    debugging off without a word); a deployment typo should fail loudly instead.
    """

    def get_value(self, var, cast=None, default=environ.Env.NOTSET, parse_default=False):
        try:
            return super().get_value(var, cast=cast, default=default, parse_default=parse_default)
        except (ValueError, TypeError) as error:
            raise ImproperlyConfigured(f"Environment variable {var}: {error}") from error

    @classmethod
    def parse_value(cls, value, cast):
        if cast is bool and isinstance(value, str):
            normalised = value.strip().lower()
            if normalised in TRUE_STRINGS:
                return True
            if normalised in FALSE_STRINGS:
                return False
            raise ValueError(f"expected true or false, got {value!r}")
        return super().parse_value(value, cast)
