"""A check of SparkPost transmission requests against `sparkpost_transmissions.apib`.

SparkPost publishes API Blueprint, not OpenAPI, so there is no validator to reuse. This one reads
the attribute lists (MSON) of the blueprint itself rather than restating them, and checks:

- the request body's attributes ("Request Body" data structure): no unknown ones, the required
  ones present, each of its documented type (`string`, `boolean`, `number`, `object`, `array`,
  or one of an `enum`'s variants), and the documented "Maximum length - N bytes/KB";
- `content` against the four content data structures of the "Send …" sections (inline,
  template, A/B test, RFC822): it must match one of them exactly; inline content needs `html`
  or `text` ("At a minimum, html or text is required");
- `email_rfc822` against the rules stated in prose: a header block and a body, and no SMTP
  terminator (`CRLF.CRLF`);
- recipients: the recipient object is documented in the Recipient Lists API, which is not among
  the spec files, so only what this file's samples show is checked: each recipient is an object
  with an `address` that is an email string or an object with an `email`.

It does not check what the blueprint leaves to prose elsewhere (template language, header
rules of inline content, attachment limits).
"""

import functools
import json
import re
from dataclasses import dataclass, field
from email import message_from_string
from typing import Any

from tests.support.vendor_specs import VENDOR_SPECS

_ATTRIBUTE = re.compile(
    r"^(?P<indent> *)\+ (?:(?P<name>\w+) )?\((?P<spec>[^)]*)\)(?: - (?P<description>.*))?$"
)
_MAX_LENGTH = re.compile(r"Maximum length - (\d+) ?(bytes|KB)", re.IGNORECASE)
_PYTHON_TYPES: dict[str, type | tuple[type, ...]] = {
    "string": str,
    "boolean": bool,
    "number": (int, float),
    "object": dict,
    "array": list,
}


@dataclass
class Attribute:
    name: str | None
    type: str
    required: bool
    max_bytes: int | None = None
    children: dict[str, "Attribute"] = field(default_factory=dict)
    variants: list["Attribute"] = field(default_factory=list)


def _parse_block(lines: list[str]) -> Attribute:
    """The attributes of one `+ Data Structure` block, as the children of an object."""
    root = Attribute(None, "object", True)
    stack: list[tuple[int, Attribute]] = [(-1, root)]
    for line in lines:
        found = _ATTRIBUTE.match(line)
        if not found:
            continue  # descriptions, defaults, samples
        indent = len(found["indent"])
        spec = [part.strip() for part in found["spec"].split(",")]
        description = found["description"] or ""
        length = _MAX_LENGTH.search(description)
        attribute = Attribute(
            name=found["name"],
            type=spec[0].split("[", 1)[0],
            required="required" in spec,
            max_bytes=int(length[1]) * (1024 if length[2].upper() == "KB" else 1) if length else None,
        )
        while stack[-1][0] >= indent:
            stack.pop()
        parent = stack[-1][1]
        if attribute.name is None:
            parent.variants.append(attribute)
        else:
            parent.children[attribute.name] = attribute
        stack.append((indent, attribute))
    return root


def _data_structures(text: str, heading: str) -> list[Attribute]:
    """Every `+ Data Structure` block in the sections whose heading starts with `heading`."""
    blocks, current, in_section = [], None, False
    for line in text.splitlines():
        if line.startswith("#"):
            in_section = line.lstrip("#").strip().startswith(heading)
            current = None
            continue
        if in_section and line.startswith("+ Data Structure"):
            current = []
            blocks.append(current)
        elif current is not None and line and not line.startswith(" "):
            current = None  # the block ends at the next top-level item
        elif current is not None:
            current.append(line)
    return [_parse_block(block) for block in blocks]


@dataclass(frozen=True)
class TransmissionsBlueprint:
    body: Attribute
    contents: list[Attribute]


@functools.cache
def transmissions_blueprint() -> TransmissionsBlueprint:
    text = (VENDOR_SPECS / "sparkpost_transmissions.apib").read_text()
    [body] = _data_structures(text, "Request Body")
    contents = [
        structure
        for heading in ("Send Inline Content", "Send a Template", "Send an A/B Test", "Send RFC822 Content")
        for structure in _data_structures(text, heading)
    ]
    return TransmissionsBlueprint(body, contents)


def transmission_problems(body: Any) -> list[str]:
    blueprint = transmissions_blueprint()
    problems = _check(blueprint.body, body, "")
    if isinstance(body, dict) and isinstance(body.get("content"), dict):
        problems += _content_problems(blueprint.contents, body["content"])
    if isinstance(body, dict) and isinstance(body.get("recipients"), list):
        problems += _recipients_problems(body["recipients"])
    return problems


def _check(attribute: Attribute, value: Any, path: str) -> list[str]:
    if attribute.type == "enum":
        if any(not _check(variant, value, path) for variant in attribute.variants):
            return []
        kinds = " or ".join(variant.type for variant in attribute.variants)
        return [f"{path or '/'}: must be {kinds}"]
    if attribute.type in _PYTHON_TYPES and not _is_of(value, attribute.type):
        return [f"{path or '/'}: must be {attribute.type}, not {type(value).__name__}"]
    problems = []
    if attribute.max_bytes is not None:
        size = len(value.encode() if isinstance(value, str) else json.dumps(value).encode())
        if size > attribute.max_bytes:
            problems.append(f"{path}: {size} bytes, at most {attribute.max_bytes}")
    if isinstance(value, dict) and attribute.children:
        problems += [
            f"{path}/{name}: not an attribute of the blueprint"
            for name in value.keys() - attribute.children.keys()
        ]
        problems += [
            f"{path}/{name}: required"
            for name, child in attribute.children.items()
            if child.required and name not in value
        ]
        for name, child in attribute.children.items():
            if name in value:
                problems += _check(child, value[name], f"{path}/{name}")
    return problems


def _is_of(value: Any, type_name: str) -> bool:
    if isinstance(value, bool):  # a JSON true is no number, even though Python's bool is an int
        return type_name == "boolean"
    return isinstance(value, _PYTHON_TYPES[type_name])


def _content_problems(variants: list[Attribute], content: dict[str, Any]) -> list[str]:
    for variant in variants:
        if not content.keys() & variant.children.keys():
            continue
        problems = _check(variant, content, "/content")
        if "email_rfc822" in variant.children and not problems:
            problems += _rfc822_problems(content["email_rfc822"])
        if "html" in variant.children and not ({"html", "text"} & content.keys()):
            problems.append("/content: inline content needs html or text")
        return problems
    return ["/content: matches none of inline, template, A/B test or RFC822 content"]


def _rfc822_problems(message: str) -> list[str]:
    problems = []
    if "\r\n.\r\n" in message:
        problems.append("/content/email_rfc822: contains the SMTP terminator CRLF.CRLF")
    head, separator, _ = message.replace("\r\n", "\n").partition("\n\n")
    if not separator or not message_from_string(head + "\n\n").keys():
        problems.append("/content/email_rfc822: no header block followed by a body")
    return problems


def _recipients_problems(recipients: list[Any]) -> list[str]:
    problems = []
    for index, recipient in enumerate(recipients):
        address = recipient.get("address") if isinstance(recipient, dict) else None
        if not (
            isinstance(address, str) or (isinstance(address, dict) and isinstance(address.get("email"), str))
        ):
            problems.append(f"/recipients/{index}/address: must be an email or an object with an email")
    return problems
