"""Help for every option of every subcommand, `--version`, and help that says what the commands do now."""

from __future__ import annotations

import argparse
import subprocess
import sys
from importlib import metadata

import pytest

from segmail.jobs.cli import build_parser, main


def walk(parser: argparse.ArgumentParser, path: tuple[str, ...] = ("segmail",)):
    """(command path, action or subcommand name, help) for every option, argument and subcommand."""
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help for choice in action._choices_actions}
            for name, sub in action.choices.items():
                yield path, name, helps.get(name)
                yield from walk(sub, (*path, name))
            continue
        yield path, "/".join(action.option_strings) or action.dest, action.help


ENTRIES = list(walk(build_parser()))


def test_the_walk_sees_every_subcommand():
    commands = {" ".join((*path[1:], name)) for path, name, _ in ENTRIES if not name.startswith("-")}
    for expected in ("import", "segments compute", "send plan", "sandbox serve", "demo", "status", "run"):
        assert expected in commands


@pytest.mark.parametrize(("path", "name", "text"), ENTRIES, ids=[f"{' '.join(p)} {n}" for p, n, _ in ENTRIES])
def test_every_option_and_subcommand_has_help(path, name, text):
    assert text and text.strip(), f"{' '.join(path)} {name}: no help text"


def helps_of(*command: str) -> str:
    return " ".join(
        text or "" for path, name, text in ENTRIES if path[1:] == command or (*path[1:], name) == command
    )


def subcommand(*names: str) -> argparse.ArgumentParser:
    parser = build_parser()
    for name in names:
        parser = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices[name]
    return parser


def test_sandbox_help_names_every_shop_it_serves():  # it once said "and later the shops"
    serve = next(a for a in subcommand("sandbox", "serve")._actions if a.dest == "shop")
    shops = [c for c in serve.choices if c != "none"]
    text = helps_of("sandbox").lower()
    assert shops and all(shop in text for shop in shops)
    assert "later" not in text


def test_demo_help_says_it_runs_a_service_cycle_against_sandboxes():  # not "import it, compute"
    text = helps_of("demo")
    assert "service cycle" in text and "sandboxes" in text and "import it" not in text


def test_version_comes_from_the_installed_package(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"segmail {metadata.version('segmail')}"


@pytest.mark.slow  # the CLI in a subprocess
def test_python_dash_m_help():
    proc = subprocess.run(
        [sys.executable, "-m", "segmail.jobs.cli", "--help"], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0 and "--version" in proc.stdout and "--debug" in proc.stdout
