"""An export's template: each row rendered by it, as the docs' Velocity templates turn an
item into a CSV line.

Jinja2's sandbox, because a template is code its author sends us: the sandbox refuses
attribute access to Python internals (`__class__`, `mro`…) and unsafe callables, and
Jinja2's syntax (`{{ email }},{{ name|upper }}`) is what Velocity users know, maintained
by Pallets. On top of it: only filters that cannot blow up a row, repetition (`*`, `**`)
bounded, and a bound on each rendered row."""

from dataclasses import dataclass

from django.core.exceptions import ValidationError
from jinja2 import StrictUndefined, TemplateError, TemplateSyntaxError, meta, nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

MAX_TEMPLATE_CHARS = 64 * 1024
MAX_ROW_CHARS = 1 << 20
SAFE_FILTERS = {
    "abs",
    "capitalize",
    "d",
    "default",
    "first",
    "float",
    "int",
    "join",
    "last",
    "length",
    "lower",
    "replace",
    "round",
    "string",
    "title",
    "tojson",
    "trim",
    "truncate",
    "upper",
}


class RenderError(Exception):
    """A row the template could not render, and why."""


class _Environment(ImmutableSandboxedEnvironment):
    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context, operator, left, right):
        if operator == "**" and isinstance(right, int | float) and abs(right) > 64:
            raise SecurityError("exponents past 64 are refused")
        if operator == "*":
            for text, times in ((left, right), (right, left)):
                repeated = isinstance(text, str | list) and isinstance(times, int)
                if repeated and len(text) * times > MAX_ROW_CHARS:
                    raise SecurityError(f"repeats past {MAX_ROW_CHARS} characters")
        return super().call_binop(context, operator, left, right)


ENVIRONMENT = _Environment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)
ENVIRONMENT.filters = {name: ENVIRONMENT.filters[name] for name in SAFE_FILTERS}


@dataclass(frozen=True)
class ExportTemplate:
    source: str
    variables: list[str]  # the row's fields it uses, in the order they first appear

    @classmethod
    def compile(cls, source: str) -> "ExportTemplate":
        """The template, or a ValidationError naming the line and the problem."""
        if len(source) > MAX_TEMPLATE_CHARS:
            raise ValidationError({"template": f"At most {MAX_TEMPLATE_CHARS} characters."})
        try:
            parsed = ENVIRONMENT.parse(source)
            ENVIRONMENT.from_string(parsed)
        except TemplateSyntaxError as error:
            raise ValidationError({"template": f"Line {error.lineno}: {error.message}"}) from None
        except TemplateError as error:  # a filter it may not use, say
            raise ValidationError({"template": str(error)}) from None
        undeclared = meta.find_undeclared_variables(parsed)
        ordered = [node.name for node in parsed.find_all(nodes.Name) if node.name in undeclared]
        return cls(source, [name for name in dict.fromkeys(ordered) if name != "row"])

    def check_columns(self, columns: list[str]) -> None:
        """Every field it uses is one of the rows' columns."""
        if unknown := [name for name in self.variables if name not in columns]:
            raise ValidationError(
                {
                    "template": f"{', '.join(unknown[:10])}: not a column of the rows "
                    f"exported ({', '.join(columns[:30])})."
                }
            )

    def renderer(self):
        """A function rendering one row (a dict) to its text, one line: a newline is added
        unless the template ends with one."""
        template = ENVIRONMENT.from_string(self.source)
        ending = "" if self.source.endswith("\n") else "\n"

        def render(row: dict) -> str:
            try:
                text = template.render(row, row=row)
            except (TemplateError, ArithmeticError, TypeError, ValueError) as error:
                raise RenderError(f"{type(error).__name__}: {error}") from None
            if len(text) > MAX_ROW_CHARS:
                raise RenderError(f"The row renders to more than {MAX_ROW_CHARS} characters.")
            return text + ending

        return render

    def header(self) -> str:
        return ",".join(self.variables) + "\n"
