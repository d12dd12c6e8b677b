"""MkDocs hooks: the reference pages are drawn from gatecam's code at build time.

A page holds a marker where generated text goes, so nothing of it is copied by hand:

- ``<!-- gatecam:settings -->``: the settings table, from ``DownloadConfig``'s fields;
- ``<!-- gatecam:commands -->``: every command of the Typer app with its options, read
  through click's own introspection of ``gatecam.cli.app`` (nothing else of the CLI);
- ``<!-- gatecam:variants -->``: the stand-in site's harder pages (``gatecam simulate``);
- ``<!-- gatecam:layout -->``: every module of the package with its docstring's first line,
  and the import layers pyproject.toml makes lint-imports check;
- ``<!-- gatecam:api module:Name -->``: the signature and docstring of one object.
"""

from __future__ import annotations

import html
import importlib
import inspect
import re
from typing import Any

MARKER = re.compile(r"^<!-- gatecam:(?P<what>[a-z]+)(?: (?P<arg>\S+))? -->$", re.MULTILINE)


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    def expand(match: re.Match[str]) -> str:
        what, arg = match["what"], match["arg"]
        if what == "settings":
            return settings_markdown()
        if what == "commands":
            return commands_markdown()
        if what == "layout":
            return layout_markdown(config["config_file_path"])
        if what == "variants":
            return variants_markdown()
        if what == "api" and arg:
            return api_markdown(arg)
        # A typo in a marker must fail the build, not leave a hole in the page.
        raise ValueError(f"{page.file.src_path}: unknown marker {match[0]}")

    return MARKER.sub(expand, markdown)


# -- text ---------------------------------------------------------------------------------


def prose(text: str) -> str:
    """``text`` as Markdown that shows it as written: HTML escaped outside `code` spans."""
    # A docstring's ``code`` is Markdown's `code`.
    parts = text.replace("``", "`").split("`")
    for n in range(0, len(parts), 2):
        escaped = html.escape(parts[n], quote=False)
        parts[n] = re.sub(r"([*_\[\]|])", r"\\\1", escaped)
    return "`".join(parts)


def cell(text: str) -> str:
    """``text`` for one cell of a Markdown table: one line, pipes escaped even in code."""
    return prose(" ".join(text.split())).replace("`|`", "`&#124;`")


def code(text: str) -> str:
    return f"`{text}`"


def docstring_markdown(doc: str) -> str:
    """A docstring's paragraphs; an ``Example: ...`` paragraph becomes a shell block."""
    out = []
    for paragraph in inspect.cleandoc(doc).split("\n\n"):
        if paragraph.startswith("Example: "):
            out.append("For example:\n\n```sh\n" + paragraph.removeprefix("Example: ") + "\n```")
        else:
            rst = paragraph.replace("``", "`")
            out.append(prose(" ".join(rst.split())))
    return "\n\n".join(out)


# -- settings -----------------------------------------------------------------------------


def settings_markdown() -> str:
    from gatecam.settings import ENV_ALIASES, DownloadConfig, env_name, flag_name

    aliases: dict[str, list[str]] = {}
    for variable, field in ENV_ALIASES.items():
        aliases.setdefault(field, []).append(variable)
    rows = ["| variable | flag | default | meaning |", "|---|---|---|---|"]
    for name, info in DownloadConfig.model_fields.items():
        default = info.get_default(call_default_factory=True)
        if isinstance(default, list):
            default = ",".join(default)
        variable = code(env_name(name))
        if name in aliases:
            variable += " (also " + ", ".join(code(a) for a in sorted(aliases[name])) + ")"
        flag = flag_name(name)
        shown = "unset" if default is None else code(str(default))
        rows.append(
            f"| {variable} | {code(flag) if flag else ''} | {shown} "
            f"| {cell(info.description or '')}{limits(info)} |"
        )
    return "\n".join(rows)


def limits(info: Any) -> str:
    """The bounds pydantic checks, when the description does not already give them."""
    found: dict[str, float] = {}
    for rule in info.metadata:
        for attribute in ("ge", "gt", "le", "lt"):
            value = getattr(rule, attribute, None)
            if value is not None:
                found[attribute] = value
    low, high = found.get("ge", found.get("gt")), found.get("le", found.get("lt"))
    if low is not None and high is not None and f"{low:g} to {high:g}" in (info.description or ""):
        return ""
    words = {"ge": "at least", "gt": "over", "le": "at most", "lt": "under"}
    bounds = [f"{words[attribute]} {value:g}" for attribute, value in found.items()]
    return f" ({', '.join(bounds)})" if bounds else ""


# -- commands -----------------------------------------------------------------------------


def commands_markdown() -> str:
    import typer

    from gatecam.cli import app

    root = typer.main.get_command(app)
    context = root.context_class(root, info_name="gatecam")
    sections = [command_markdown(root, context, ["gatecam"])]
    sections += walk(root, context, ["gatecam"])
    return "\n\n".join(sections)


def walk(group: Any, context: Any, path: list[str]) -> list[str]:
    """The sections of every command below ``group``, depth first, in the app's order."""
    sections = []
    for name in group.list_commands(context):
        command = group.get_command(context, name)
        if command is None or command.hidden:
            continue
        sub_context = command.context_class(command, info_name=name, parent=context)
        sections.append(command_markdown(command, sub_context, [*path, name]))
        if hasattr(command, "list_commands"):
            sections += walk(command, sub_context, [*path, name])
    return sections


def command_markdown(command: Any, context: Any, path: list[str]) -> str:
    title = " ".join(path)
    usage = " ".join([title, *command.collect_usage_pieces(context)])
    lines = [f"## {title}", "", "```text", usage, "```", ""]
    lines += [docstring_markdown(command.help or ""), ""]
    if hasattr(command, "list_commands"):
        lines += ["| command | what it does |", "|---|---|"]
        for name in command.list_commands(context):
            sub = command.get_command(context, name)
            if sub is not None and not sub.hidden:
                anchor = "-".join([*path, name])
                lines.append(
                    f"| [{title} {name}](#{anchor}) | {cell(sub.get_short_help_str(200))} |"
                )
        lines.append("")
    records = [
        param.get_help_record(context)
        for param in command.get_params(context)
        if param.name != "help" and not getattr(param, "hidden", False)
    ]
    if any(records):
        lines += ["| option | meaning |", "|---|---|"]
        for record in records:
            if record is not None:
                names, meaning = record
                lines.append(f"| {code(names)} | {cell(meaning)} |")
    return "\n".join(lines).rstrip()


# -- the package's layout ----------------------------------------------------------------


def layout_markdown(config_file: str) -> str:
    import ast
    import tomllib
    from pathlib import Path

    root = Path(config_file).parent
    rows = ["| module | what it holds |", "|---|---|"]
    for path in sorted((root / "gatecam").rglob("*.py")):
        relative = path.relative_to(root).with_suffix("")
        parts = relative.parts[:-1] if relative.name == "__init__" else relative.parts
        if "migrations" in parts:
            continue
        doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
        first = " ".join(doc.split("\n\n")[0].split())
        rows.append(f"| {code('.'.join(parts))} | {cell(first)} |")
    project = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    contracts = project["tool"]["importlinter"]["contracts"]
    out = ["\n".join(rows), ""]
    for contract in contracts:
        out.append(f"**{prose(contract['name'])}**" + (":" if "layers" in contract else ""))
        out.append("")
        if "layers" in contract:
            out += [
                f"1. {' &#124; '.join(code(m) for m in layer.split(' | '))}"
                for layer in contract["layers"]
            ]
        else:
            sources = ", ".join(code(m) for m in contract["source_modules"])
            forbidden = ", ".join(code(m) for m in contract["forbidden_modules"])
            out.append(f"{sources} never import {forbidden}.")
        out.append("")
    return "\n".join(out).rstrip()


# -- the stand-in's variants -------------------------------------------------------------


def variants_markdown() -> str:
    from gatecam.sources.draydog.standin.variants import VARIANTS

    rows = ["| `--variant` | the page it serves |", "|---|---|"]
    rows += [f"| {code(name)} | {cell(what)} |" for name, what in VARIANTS.items()]
    return "\n".join(rows)


# -- Python API ---------------------------------------------------------------------------


class _Annotation(str):
    """An annotation kept as its source text (``from __future__ import annotations``)."""

    def __repr__(self) -> str:
        return str(self)


def api_markdown(target: str) -> str:
    module_name, _, qualname = target.partition(":")
    obj: Any = importlib.import_module(module_name)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    shown = qualname.rsplit(".", 1)[-1]
    try:
        signature = inspect.signature(obj.__init__ if inspect.isclass(obj) else obj)
    except (TypeError, ValueError):
        signature = None
    lines = []
    if signature is not None and not _is_model(obj):
        parameters = [_shown(p) for p in signature.parameters.values() if p.name != "self"]
        returns = signature.return_annotation
        if isinstance(returns, str):
            returns = _Annotation(returns)
        if inspect.isclass(obj):
            returns = inspect.Signature.empty
        text = signature_text(
            shown, signature.replace(parameters=parameters, return_annotation=returns)
        )
        lines += ["```python", text, "```", ""]
    lines.append(docstring_markdown(inspect.getdoc(obj) or ""))
    table = getattr(obj, "__table__", None)
    if table is not None:
        lines += ["", "| column | type | empty allowed |", "|---|---|---|"]
        lines += [
            f"| {code(c.name)} | {code(str(c.type))} | {'yes' if c.nullable else 'no'} |"
            for c in table.columns
        ]
    lines.append(f"\n<small>`{module_name}.{qualname}`</small>")
    return "\n".join(lines)


def signature_text(name: str, signature: inspect.Signature, width: int = 88) -> str:
    """``name(...)`` on one line, or one parameter a line when that is wider than ``width``."""
    text = f"{name}{signature}"
    if len(text) <= width:
        return text
    parts: list[str] = []
    star = False
    for parameter in signature.parameters.values():
        if parameter.kind is inspect.Parameter.VAR_POSITIONAL:
            star = True
        elif parameter.kind is inspect.Parameter.KEYWORD_ONLY and not star:
            parts.append("*")
            star = True
        parts.append(str(parameter))
    returns = signature.return_annotation
    tail = "" if returns is inspect.Signature.empty else f" -> {inspect.formatannotation(returns)}"
    return f"{name}(\n" + "".join(f"    {part},\n" for part in parts) + f"){tail}"


def _shown(parameter: inspect.Parameter) -> inspect.Parameter:
    """``parameter`` as its source reads: annotation text, and no object address."""
    if isinstance(parameter.annotation, str):
        parameter = parameter.replace(annotation=_Annotation(parameter.annotation))
    if parameter.default is not inspect.Parameter.empty and callable(parameter.default):
        parameter = parameter.replace(default=_Annotation("..."))
    return parameter


def _is_model(obj: Any) -> bool:
    # A pydantic model's or a mapped table's __init__ takes its fields: they are listed apart.
    return inspect.isclass(obj) and (hasattr(obj, "model_fields") or hasattr(obj, "__table__"))
