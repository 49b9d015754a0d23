"""Personalization templates (`shared.templates`): rendering, escaping, the sandbox, bounds, the check."""

import time

import pytest

from shared.errors import InvalidInput
from shared.limits import BODY_MAX
from shared.templates import (
    RenderFailed,
    TemplateProblem,
    check_templates,
    compile_content,
    has_template_syntax,
    recipient_variables,
)

URL = "https://unsubscribe.example/unsubscribe/token"


def render(subject: str = "", text: str = "", html: str = "", *, name: str = "Ada Lovelace", **fields: str):
    variables = recipient_variables("ada@inbox.example", name, fields, URL)
    return compile_content(subject, text, html).render(variables)


def test_variables_render_per_recipient():
    rendered = render("Hi {{ first_name }}", "{{ last_name }} <{{ email }}> {{ plan }}\n", plan="gold")
    assert rendered.subject == "Hi Ada"
    assert rendered.text == "Lovelace <ada@inbox.example> gold\n", "the trailing newline is kept"


def test_custom_first_and_last_names_win_over_the_split_name_but_not_email_or_the_link():
    rendered = render(
        "{{ first_name }} {{ last_name }} {{ email }} {{ unsubscribe_url }}",
        first_name="Augusta",
        last_name="King",
        email="spoofed@else.example",
        unsubscribe_url="https://evil.example",
    )
    assert rendered.subject == f"Augusta King ada@inbox.example {URL}"


def test_a_missing_field_is_empty_and_default_replaces_it():
    assert render("[{{ plan }}]").subject == "[]"
    assert render("{{ plan | default('free') }}").subject == "free"
    assert render("{{ plan | default('free') }}", plan="gold").subject == "gold"
    assert render("{% if plan is defined %}paid{% else %}trial{% endif %}").subject == "trial"


def test_html_is_escaped_and_text_and_subject_are_not():
    rendered = render("{{ note }}", "{{ note }}", "<p>{{ note }}</p>", note='<b>&"x"</b>')
    assert rendered.html == "<p>&lt;b&gt;&amp;&#34;x&#34;&lt;/b&gt;</p>"
    assert rendered.subject == rendered.text == '<b>&"x"</b>'


def test_content_without_syntax_is_not_personalized_and_sent_as_is():
    content = compile_content("Sale {not a template}", "plain", "<p>plain</p>")
    assert not content.personalized and not has_template_syntax("a { b } c")
    assert content.render({}).subject == "Sale {not a template}"


def test_compiled_once_per_content():
    assert compile_content("{{ name }}", "", "") is compile_content("{{ name }}", "", "")


@pytest.mark.parametrize(
    "attack",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ email.__class__ }}",
        "{{ email['__class__'] }}",
        "{{ self }}{{ self.__init__.__globals__ }}",
        "{{ lipsum.__globals__ }}",
        "{{ cycler.__init__.__globals__.os }}",
        "{{ range(10) }}",
        "{{ email|attr('__class__') }}",
        "{% for a in email %}{% for b in email %}x{% endfor %}{% endfor %}",
        "{{ 'a' * 1000000000 }}",
        "{{ 9 ** 9 ** 9 }}",
        "{% set x = email %}",
        "{% include 'x' %}",
        "{% macro m() %}{% endmacro %}",
        "{{ email|format('x') }}",
    ],
)
def test_sandbox_escapes_and_unbounded_constructs_are_refused_before_anything_runs(attack):
    with pytest.raises(TemplateProblem):
        compile_content(attack, "", "")
    with pytest.raises(InvalidInput) as refused:
        check_templates(attack, "", "", [])
    assert refused.value.errors[0].loc == ("content", "subject")


def test_an_amplifying_replace_chain_is_refused_quickly():
    chain = "{{ note" + "|replace('', 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa')" * 6 + " }}"
    started = time.perf_counter()
    with pytest.raises(RenderFailed, match="replace"):
        render(text=chain, note="x" * 1000)
    assert time.perf_counter() - started < 1


def test_output_above_the_limit_is_refused():
    big = "{{ note }}" * (BODY_MAX // 1000 + 1)
    with pytest.raises(RenderFailed, match="text: renders more than"):
        render(text=big, note="x" * 1000)
    with pytest.raises(RenderFailed, match="subject"):
        render("{{ note }}" * 2, note="x" * 999)


def test_a_subject_that_renders_a_line_break_is_refused():
    with pytest.raises(RenderFailed, match="line break"):
        render("Hi {{ first_name }}", first_name="Eve\r\nBcc: victim@else.example")


def test_the_check_names_each_part_its_line_and_the_unknown_fields():
    with pytest.raises(InvalidInput) as refused:
        check_templates(
            "{{ first_name }} {{ plan }}", "ok\n{{ nope }} {{ other }}", "<p>\n\n{% if %}</p>", ["plan"]
        )
    errors = {error.loc: error.message for error in refused.value.errors}
    assert set(errors) == {("content", "text"), ("content", "html")}
    assert "unknown fields: nope, other" in errors[("content", "text")]
    assert errors[("content", "html")].startswith("template error: line 3:")


def test_the_check_accepts_built_ins_and_the_lists_fields():
    check_templates("{{ first_name }}", "{{ plan|default('x')|upper }}", "{{ unsubscribe_url }}", ["plan"])
