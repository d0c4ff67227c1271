"""The one way settings read the environment: django-environ, made strict."""

import environ
from django.core.exceptions import ImproperlyConfigured

TRUE_STRINGS = {"1", "true", "yes", "on"}
FALSE_STRINGS = {"0", "false", "no", "off", ""}
SMTP_BACKEND = "django.core.mail.backends.smtp.EmailBackend"


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

    def smtp_mailer(self, var: str, timeout: int) -> dict | None:
        """The MAILERS entry of the SMTP server a variable names by URL
        (smtp://user:password@host:587, smtp+tls://…, smtp+ssl://…); None if it is unset."""
        if not (url := self.str(var, default="")):
            return None
        try:
            parsed = self.email_url_config(url)
        except ImproperlyConfigured as error:
            raise ImproperlyConfigured(f"Environment variable {var}: {error}") from None
        if parsed["EMAIL_BACKEND"] != SMTP_BACKEND or not parsed["EMAIL_HOST"]:
            raise ImproperlyConfigured(f"Environment variable {var}: no SMTP server in {url!r}")
        return {
            "BACKEND": SMTP_BACKEND,
            "OPTIONS": {
                "host": parsed["EMAIL_HOST"],
                "port": parsed["EMAIL_PORT"],
                "username": parsed["EMAIL_HOST_USER"],
                "password": parsed["EMAIL_HOST_PASSWORD"],
                "use_tls": parsed.get("EMAIL_USE_TLS", False),
                "use_ssl": parsed.get("EMAIL_USE_SSL", False),
                "timeout": timeout,
            },
        }
