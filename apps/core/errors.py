"""The domain's one error type for refused state changes.

Field-level validation raises Django's ValidationError (so forms and the API can point
at the field); a transition the current state does not allow raises TransitionError."""


class TransitionError(Exception):
    """A state change that the object's current state does not allow."""

    def __init__(self, message: str, *, code: str = "invalid_transition"):
        super().__init__(message)
        self.message = message
        self.code = code
