"""Personalization: a campaign's subject, text and HTML as Jinja2 templates, rendered per recipient.

Templates are written by tenants, who are untrusted, and rendered by every delivery worker, so the
language is cut down to what merge fields need and nothing that can reach outside a recipient's
values or grow without bound:

- Jinja2's sandbox (`ImmutableSandboxedEnvironment`), no globals, and a handful of filters
  (`ALLOWED_FILTERS`); on top of it, a template may only use output, `if`, comparisons, `and`/`or`/
  `not`, `~` (concatenation), the inline `a if b else c`, filters and `is` tests (`_ALLOWED_NODES`).
  No attribute or item access (`''.__class__` is refused before anything runs), no arithmetic
  (`'a' * 10**9`), no loops, `set`, macros, includes or blocks: nothing whose cost is not linear in
  the template's size. `replace` is bounded (`_bounded_replace`), since a chain of them multiplies.
- Rendered output streams and stops at its maximum (`BODY_MAX` for the bodies, `SUBJECT_MAX` for the
  subject), and a subject that renders a line break is refused: it would break the header.
- Autoescaping for the HTML part only; the subject and the text are plain text.

Variables: `email`, `name`, `first_name`/`last_name` (split from `name`, unless the recipient has
custom fields of those names), every custom field of the recipient, and `unsubscribe_url`, the
recipient's own one-click link. A field the recipient's list has but the recipient lacks is
undefined in Jinja2's lenient sense: it renders as the empty string, and `{{ plan | default("free") }}`
gives "free". Every other name is strictly undefined (`StrictUndefined`): using it fails the
recipient. The check at campaign creation (`check_templates`) refuses such names up front.
"""

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, TemplateError, TemplateSyntaxError, Undefined, meta, nodes
from jinja2.environment import Template
from jinja2.filters import FILTERS as DEFAULT_FILTERS
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.tests import TESTS as DEFAULT_TESTS
from markupsafe import Markup

from shared.errors import FieldError, InvalidInput
from shared.limits import BODY_MAX, SUBJECT_MAX

BUILT_IN_VARIABLES = ("email", "name", "first_name", "last_name", "unsubscribe_url")
"""The variables every recipient has, whatever its list's custom fields are."""

ALLOWED_FILTERS = ("default", "upper", "lower", "title", "capitalize", "trim", "truncate", "replace", "e")
ALLOWED_TESTS = ("defined", "undefined", "none", "string", "number", "eq", "ne")
PARTS = ("subject", "text", "html")
"""The parts of a content that are templates, as `MessageContent` names them."""

_ALLOWED_NODES: tuple[type[nodes.Node], ...] = (
    nodes.Template,
    nodes.Output,
    nodes.TemplateData,
    nodes.Const,
    nodes.Name,
    nodes.Filter,
    nodes.Test,
    nodes.Keyword,
    nodes.If,
    nodes.CondExpr,
    nodes.Compare,
    nodes.Operand,
    nodes.And,
    nodes.Or,
    nodes.Not,
    nodes.Concat,
)
_SYNTAX = re.compile(r"\{[{%#]")
_LINE_BREAKS = frozenset("\r\n\x00\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")


class TemplateProblem(ValueError):
    """A template that cannot be compiled: a syntax error or a construct it may not use."""

    def __init__(self, part: str, message: str, line: int | None = None) -> None:
        super().__init__(f"{part}: line {line}: {message}" if line else f"{part}: {message}")
        self.part = part
        self.line = line
        self.message = message


class RenderFailed(ValueError):
    """A template could not be rendered for one recipient (a runtime error, output too large, a
    subject that would break its header). The message says why; it never holds another recipient's data."""


def has_template_syntax(text: str) -> bool:
    """Whether `text` holds anything Jinja2 would read (`{{`, `{%`, `{#`): text without it is sent as is."""
    return _SYNTAX.search(text) is not None


def _bounded_replace(value: Any, old: str, new: str, count: int | None = None) -> str:
    """Jinja2's `replace`, refused when its result would pass `BODY_MAX` (before it is built)."""
    text, old, new = str(value), str(old), str(new)
    found = text.count(old)  # for an empty `old`: every gap, len(text) + 1
    if count is not None and count >= 0:
        found = min(count, found)
    if len(text) + found * (len(new) - len(old)) > BODY_MAX:
        raise RenderFailed(f"replace would make more than {BODY_MAX} characters")
    if isinstance(value, Markup):  # already escaped HTML stays so (its `replace` escapes the arguments)
        return value.replace(old, new, -1 if count is None else count)
    return text.replace(old, new, -1 if count is None else count)


def _environment(*, html: bool) -> ImmutableSandboxedEnvironment:
    environment = ImmutableSandboxedEnvironment(
        undefined=StrictUndefined, autoescape=html, keep_trailing_newline=True, auto_reload=False
    )
    environment.globals.clear()
    environment.filters = {name: DEFAULT_FILTERS[name] for name in ALLOWED_FILTERS}
    environment.filters["replace"] = _bounded_replace
    environment.tests = {name: DEFAULT_TESTS[name] for name in ALLOWED_TESTS}
    return environment


_PLAIN = _environment(html=False)
_HTML = _environment(html=True)


def _refuse_unsafe_constructs(part: str, tree: nodes.Template) -> None:
    for node in tree.find_all(nodes.Node):
        line = getattr(node, "lineno", None)
        if not isinstance(node, _ALLOWED_NODES):
            raise TemplateProblem(part, f"{_describe(node)} is not allowed in a template", line)
        if isinstance(node, nodes.Filter) and (
            node.name not in ALLOWED_FILTERS or node.dyn_args or node.dyn_kwargs
        ):
            raise TemplateProblem(
                part, f"filter {node.name!r} is not allowed (allowed: {', '.join(ALLOWED_FILTERS)})", line
            )
        if isinstance(node, nodes.Test) and (
            node.name not in ALLOWED_TESTS or node.dyn_args or node.dyn_kwargs
        ):
            raise TemplateProblem(
                part, f"test {node.name!r} is not allowed (allowed: {', '.join(ALLOWED_TESTS)})", line
            )
        if isinstance(node, nodes.Name) and node.ctx != "load":
            raise TemplateProblem(part, "assigning variables is not allowed in a template", line)
        if isinstance(node, nodes.Const) and not isinstance(node.value, str | int | float | bool | None):
            raise TemplateProblem(
                part, "only text, numbers, true, false and none are allowed as values", line
            )


def _describe(node: nodes.Node) -> str:
    names = {
        nodes.Getattr: "attribute access (`.name`)",
        nodes.Getitem: "item access (`[...]`)",
        nodes.For: "`for`",
        nodes.Macro: "`macro`",
        nodes.Call: "calling a function",
        nodes.Assign: "`set`",
        nodes.AssignBlock: "`set`",
        nodes.Include: "`include`",
        nodes.Import: "`import`",
        nodes.FromImport: "`import`",
        nodes.Extends: "`extends`",
        nodes.Block: "`block`",
    }
    for kind, description in names.items():
        if isinstance(node, kind):
            return description
    if isinstance(node, nodes.BinExpr | nodes.UnaryExpr):
        return f"arithmetic ({node.operator!r})"
    return f"{type(node).__name__.lower()}"


def _parse(part: str, source: str) -> nodes.Template:
    environment = _HTML if part == "html" else _PLAIN
    try:
        tree = environment.parse(source)
    except TemplateSyntaxError as exc:
        raise TemplateProblem(part, exc.message or "syntax error", exc.lineno) from None
    _refuse_unsafe_constructs(part, tree)
    return tree


@dataclass(frozen=True)
class _Part:
    name: str
    template: Template
    names: frozenset[str]
    """The variables the template names."""
    limit: int


@dataclass(frozen=True)
class RenderedContent:
    subject: str
    text: str
    html: str


@dataclass(frozen=True)
class CompiledContent:
    """A content's templates, compiled once; a part without template syntax is kept as its text."""

    subject: _Part | str
    text: _Part | str
    html: _Part | str

    @property
    def personalized(self) -> bool:
        return any(isinstance(part, _Part) for part in (self.subject, self.text, self.html))

    def render(self, variables: Mapping[str, str]) -> RenderedContent:
        """The content for one recipient. Raises `RenderFailed` naming the part and why."""
        subject = _render(self.subject, variables)
        if "\x00" in subject or not _LINE_BREAKS.isdisjoint(subject):
            raise RenderFailed("subject: renders a line break, which would break the header")
        return RenderedContent(subject, _render(self.text, variables), _render(self.html, variables))


def _render(part: _Part | str, variables: Mapping[str, str]) -> str:
    if isinstance(part, str):
        return part
    # A name the template uses that the recipient lacks is lenient (empty, `default` replaces it);
    # the check at creation refused names that are neither built in nor the list's fields.
    context: dict[str, Any] = {name: Undefined(name=name) for name in part.names if name not in variables}
    context.update(variables)
    chunks: list[str] = []
    size = 0
    try:
        for chunk in part.template.generate(context):
            size += len(chunk)
            if size > part.limit:
                raise RenderFailed(f"{part.name}: renders more than {part.limit} characters")
            chunks.append(chunk)
    except RenderFailed as failed:
        message = str(failed)
        raise RenderFailed(
            message if message.startswith(f"{part.name}:") else f"{part.name}: {message}"
        ) from None
    except (TemplateError, TypeError, ValueError, ArithmeticError, RecursionError) as exc:
        raise RenderFailed(f"{part.name}: {exc}"[:500]) from None
    return "".join(chunks)


def _compile_part(part: str, source: str, limit: int) -> _Part | str:
    if not has_template_syntax(source):
        return source
    tree = _parse(part, source)
    environment = _HTML if part == "html" else _PLAIN
    names = frozenset(meta.find_undeclared_variables(tree))
    return _Part(part, environment.from_string(tree), names, limit)


@lru_cache(maxsize=32)
def compile_content(subject: str, text: str, html: str) -> CompiledContent:
    """A content's templates, compiled (cached: a worker renders one content for many recipients).
    Raises `TemplateProblem` for the first part that cannot be compiled."""
    return CompiledContent(
        _compile_part("subject", subject, SUBJECT_MAX),
        _compile_part("text", text, BODY_MAX),
        _compile_part("html", html, BODY_MAX),
    )


def recipient_variables(
    email: str, name: str, fields: Mapping[str, str], unsubscribe_url: str
) -> dict[str, str]:
    """What a recipient's templates see: its custom fields, then the built-in variables (a custom field
    cannot replace `email`, `name` or `unsubscribe_url`; it may give `first_name` and `last_name`)."""
    first_name, _, last_name = " ".join(name.split()).partition(" ")
    variables = {"first_name": first_name, "last_name": last_name, **fields}
    variables.update(email=email, name=name, unsubscribe_url=unsubscribe_url)
    return variables


def check_templates(
    subject: str, text: str, html: str, field_names: Iterable[str], *, loc: tuple[str, ...] = ("content",)
) -> None:
    """Refuse a content whose templates cannot be compiled or name unknown variables, with a 422 that
    names each part (`content.subject`, `content.text`, `content.html`), the line, and the unknown names."""
    known = set(BUILT_IN_VARIABLES) | set(field_names)
    errors: list[FieldError] = []
    for part, source in zip(PARTS, (subject, text, html), strict=True):
        if not has_template_syntax(source):
            continue
        try:
            tree = _parse(part, source)
        except TemplateProblem as problem:
            where = f"line {problem.line}: " if problem.line else ""
            errors.append(FieldError((*loc, part), f"template error: {where}{problem.message}"))
            continue
        unknown = sorted(meta.find_undeclared_variables(tree) - known)
        if unknown:
            errors.append(
                FieldError(
                    (*loc, part),
                    f"unknown fields: {', '.join(unknown)} (neither built in — "
                    f"{', '.join(BUILT_IN_VARIABLES)} — nor a custom field of the list)",
                )
            )
    if errors:
        raise InvalidInput(*errors)
