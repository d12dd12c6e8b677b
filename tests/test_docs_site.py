"""The docs site builds, its reference pages cover the code, and README.md stays a front page."""

from __future__ import annotations

import html
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer

from gatecam.cli import app
from gatecam.settings import DownloadConfig, env_name

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
PAGES = sorted((ROOT / "docs").glob("*.md"))
# Markdown links and HTML src/href attributes; the target ends at a blank or a closing mark.
LINK = re.compile(r"\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)|(?:src|href)=\"([^\"]+)\"")
CODE = re.compile(r"```.*?```|`[^`\n]*`", re.DOTALL)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site")
    build = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert build.returncode == 0, build.stderr
    return out


def text_of(page: Path) -> str:
    """The page's visible text, tags dropped and entities read."""
    return html.unescape(re.sub(r"<[^>]+>", " ", page.read_text(encoding="utf-8")))


def command_paths(group: Any, context: Any, path: list[str]) -> list[str]:
    """Every command of the Typer app as typed ("gatecam db upgrade"), walked through click."""
    found = []
    for name in group.list_commands(context):
        command = group.get_command(context, name)
        found.append(" ".join([*path, name]))
        if hasattr(command, "list_commands"):
            sub = command.context_class(command, info_name=name, parent=context)
            found += command_paths(command, sub, [*path, name])
    return found


def test_the_site_builds_strictly_with_every_page(site: Path) -> None:
    for page in PAGES:
        name = "" if page.stem == "index" else f"{page.stem}/"
        assert (site / name / "index.html").is_file(), page.name
    # The build's own code is not published beside the pages.
    assert not list(site.rglob("hooks.py"))


def test_the_settings_page_lists_every_setting_the_model_declares(site: Path) -> None:
    text = text_of(site / "settings" / "index.html")
    variables = [env_name(field) for field in DownloadConfig.model_fields]
    assert len(variables) > 10
    for variable in variables:
        assert re.search(rf"\b{variable}\b", text), variable
    for field, info in DownloadConfig.model_fields.items():
        # Each row carries the model's own description, as the code words it.
        description = " ".join((info.description or "").split()).replace("`", "")
        assert description in " ".join(text.split()), field


def test_the_command_page_lists_every_command_of_the_app(site: Path) -> None:
    page = (site / "commands" / "index.html").read_text(encoding="utf-8")
    root = typer.main.get_command(app)
    commands = command_paths(root, root.context_class(root, info_name="gatecam"), ["gatecam"])
    assert {"gatecam run", "gatecam once", "gatecam db upgrade"} <= set(commands)
    for command in commands:
        anchor = command.replace(" ", "-")
        assert re.search(rf'<h2 id="{anchor}">{re.escape(command)}<', page), command
    # Options too: every flag of `run` is on the page with its help.
    run = root.get_command(root.context_class(root), "run")
    assert run is not None
    for param in run.params:
        for flag in getattr(param, "opts", []):
            assert flag in page, flag


def test_the_readme_is_a_short_front_page_that_starts_with_the_two_commands() -> None:
    data = README.read_bytes()
    assert len(data) <= 8192, f"README.md is {len(data)} bytes"
    text = data.decode("utf-8")
    first_block = re.search(r"```(?:sh)?\n(.*?)```", text, re.DOTALL)
    assert first_block is not None
    # Nothing but the title comes before them.
    assert text[: first_block.start()].strip().startswith("# gatecam")
    assert len(text[: first_block.start()].strip().splitlines()) <= 2
    commands = [line.split("#")[0].strip() for line in first_block[1].splitlines()]
    assert commands[:2] == ["make run", "make test"]
    # Two screenshots of the web page, phone and desktop, from docs/img.
    images = re.findall(r"(?:src=\"|\]\()(docs/img/[^\")]+\.png)", text)
    assert {"docs/img/overview-desktop.png", "docs/img/overview-phone.png"} <= set(images)


@pytest.mark.parametrize("document", [README, *PAGES], ids=lambda p: p.name)
def test_every_relative_link_points_at_a_file_that_exists(document: Path) -> None:
    text = CODE.sub("", document.read_text(encoding="utf-8"))
    targets = [a or b for a, b in LINK.findall(text)]
    relative = [t for t in targets if not re.match(r"[a-z]+:|#|/", t)]
    for target in relative:
        path = target.split("#")[0].split("?")[0]
        assert (document.parent / path).exists(), f"{document.name}: {target}"
    if document == README:
        assert len(relative) >= 5, "the README links into the docs"


def test_the_link_check_finds_a_broken_link(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("[gone](missing.md) and ![x](img/there.png)\n", encoding="utf-8")
    (tmp_path / "img").mkdir()
    (tmp_path / "img" / "there.png").write_bytes(b"")
    with pytest.raises(AssertionError, match=r"missing\.md"):
        test_every_relative_link_points_at_a_file_that_exists(page)
