"""The ``coop`` command as a person meets it: help on every command, words for mistakes, and
a data directory found (or refused, saying why) — never made behind one's back.

Help and validation run in-process (``coop.cli.main``); the refusals run the real command in
a subprocess, in an empty directory, with no ``COOP_*`` configuration; one test (marked
``own_servers``) makes a data directory with ``coop init`` and uses it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path

import pytest

from coop import cli
from coop.auth.principal import SCOPES
from coop.settings import Settings
from tests.support import gss, unique

COOP = str(Path(sys.executable).with_name("coop"))


# -- the parser tree -------------------------------------------------------------------------


def _commands(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser, str | None]]:
    """Every parser under ``parser`` (itself first): its argv path, itself, its one-line help."""
    if not path:
        yield path, parser, parser.description
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help for a in action._choices_actions}
            for name, sub in action.choices.items():
                yield (*path, name), sub, helps.get(name)
                yield from _commands(sub, (*path, name))


def _shown(default: object) -> bool:
    """Whether a default is worth showing (not a flag's False, not an absent None)."""
    return not (default is None or isinstance(default, bool) or default == argparse.SUPPRESS)


def test_every_help_describes_its_command_and_options(capsys: pytest.CaptureFixture) -> None:
    commands = list(_commands(cli.build_parser()))
    names = {path for path, _, _ in commands}
    assert {("init",), ("keys",), ("clients", "add"), ("authorities", "add")} <= names
    for path, parser, one_line in commands:
        with pytest.raises(SystemExit) as exit_:
            cli.main([*path, "--help"])
        assert exit_.value.code == 0, path
        out = capsys.readouterr().out
        flat = " ".join(out.split())  # the formatter wraps lines
        assert out.startswith(f"usage: coop {' '.join(path)}".rstrip()), path
        assert one_line, f"{path}: no help in the list of commands"
        assert parser.description, f"{path}: no description"
        assert " ".join(parser.description.split())[:60] in flat, path
        for action in parser._actions:
            if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
                continue  # a command's list of commands: each is checked as a command
            name = "/".join(action.option_strings) or action.dest
            assert action.help and action.help.strip(), f"coop {' '.join(path)}: {name} has no help"
            wants_default = action.option_strings or action.nargs in ("?", "*")
            if wants_default and _shown(action.default) and "(default" not in action.help:
                assert f"(default: {action.default})" in flat, f"{path}: {name}'s default"
        assert "(default: None)" not in flat and "(default: False)" not in flat, path


def test_clients_add_help_lists_every_scope_and_keys_explains_its_actions(
    capsys: pytest.CaptureFixture,
) -> None:
    with pytest.raises(SystemExit):
        cli.main(["clients", "add", "--help"])
    flat = " ".join(capsys.readouterr().out.split())
    assert all(scope in flat for scope in SCOPES)
    with pytest.raises(SystemExit):
        cli.main(["keys", "--help"])
    flat = " ".join(capsys.readouterr().out.split())
    for words in ("show:", "rotate:", "prune:", "keep verifying", "one token lifetime"):
        assert words in flat


def test_version(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exit_:
        cli.main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out == f"coop {version('coop')}\n"
    assert version("coop") == "0.1.0"


def test_data_dir_goes_before_or_after_demo() -> None:
    parser = cli.build_parser()
    assert parser.parse_args(["--data-dir", "x", "demo"]).data_dir == "x"
    assert parser.parse_args(["demo", "--data-dir", "y"]).data_dir == "y"
    assert parser.parse_args(["--data-dir", "x", "demo", "--data-dir", "y"]).data_dir == "y"
    assert parser.parse_args(["demo"]).data_dir is None
    assert parser.parse_args(["--data-dir", "x", "keys"]).data_dir == "x"


# -- refusing to make a data directory -------------------------------------------------------


@pytest.fixture
def empty_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="coop-cli-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _bare_env() -> dict[str, str]:
    """No ``COOP_*`` configuration at all: the embedded default in ./.coop."""
    return {k: v for k, v in os.environ.items() if not k.startswith("COOP_")}


def _coop(
    argv: list[str], cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [COOP, *argv],
        cwd=cwd,
        env=env or _bare_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )


ADD_SUFFOLK = [
    "authorities",
    "add",
    "suffolk",
    "--name",
    "Suffolk",
    "--gss-code",
    "E10000029",
    "--region",
    "r-1",
]
COMMANDS_ON_DATA = [
    ADD_SUFFOLK,
    ["clients", "add", "--region", "east-of-england", "--scopes", "coop:admin"],
    ["keys"],
    ["migrate"],
]


@pytest.mark.parametrize("argv", COMMANDS_ON_DATA, ids=lambda a: " ".join(a[:2]))
def test_a_command_refuses_a_data_directory_with_no_database(argv: list[str], empty_dir: Path):
    out = _coop(argv, empty_dir)
    assert out.returncode == 2, out.stderr
    assert str(empty_dir / ".coop") in out.stderr
    assert "--data-dir" in out.stderr and "COOP_DATA_DIR" in out.stderr
    assert "coop init" in out.stderr
    assert "Traceback" not in out.stderr
    assert list(empty_dir.iterdir()) == []  # not even the directory


def test_a_named_data_directory_with_no_database_is_refused_too(empty_dir: Path) -> None:
    nothing = empty_dir / "x" / "nothing"
    out = _coop(["--data-dir", str(nothing), "migrate"], empty_dir)
    assert out.returncode == 2 and str(nothing) in out.stderr, out.stderr
    env = {**_bare_env(), "COOP_DATA_DIR": str(nothing)}
    out = _coop(["keys", "rotate"], empty_dir, env)
    assert out.returncode == 2 and str(nothing) in out.stderr, out.stderr
    (empty_dir / "half").mkdir()  # a directory, but no database in it
    out = _coop(["--data-dir", "half", "settle", "--region", "r", "--period", "2024-01"], empty_dir)
    assert out.returncode == 2 and "holds no database" in out.stderr, out.stderr
    assert [p.name for p in empty_dir.iterdir()] == ["half"]
    assert list((empty_dir / "half").iterdir()) == []


def test_a_configured_database_or_key_file_needs_no_data_directory(tmp_path: Path) -> None:
    nowhere = tmp_path / "nowhere"
    cli.require_data_dir(
        Settings(database_url="postgresql+asyncpg://db/coop", data_dir=str(nowhere))
    )
    with pytest.raises(SystemExit) as exit_:
        cli.require_data_dir(Settings(data_dir=str(nowhere)))
    assert exit_.value.code == 2
    keys = tmp_path / "keys.json"
    out = _coop(
        ["--data-dir", str(nowhere), "keys"],
        tmp_path,
        {**_bare_env(), "COOP_JWKS_FILE": str(keys)},
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["signing_kid"]
    assert not nowhere.exists()


# -- mistakes in words -----------------------------------------------------------------------


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """``coop.cli.main`` on the embedded default in a directory that does not exist: a
    command that got as far as the database would be refused (and make nothing)."""
    nowhere = tmp_path / "nowhere"
    monkeypatch.setattr(cli, "load_settings", lambda: Settings(data_dir=str(nowhere)))
    monkeypatch.setattr(cli, "_configure_logging", lambda settings: None)
    monkeypatch.setattr(cli, "_exit_on_sigterm", lambda: None)
    return nowhere


def _plain(stderr: str) -> None:
    assert "regex" not in stderr and "^" not in stderr and "Expected" not in stderr, stderr
    assert "Traceback" not in stderr


def test_authorities_add_says_what_is_wrong_with_each_option(
    offline: Path, capsys: pytest.CaptureFixture
) -> None:
    code = cli.main(
        ["authorities", "add", "Not A Slug", "--name", "", "--gss-code", "E1", "--region", "r"]
    )
    err = capsys.readouterr().err
    assert code == 2
    _plain(err)
    lines = err.splitlines()
    assert any(line.startswith("coop authorities add: SLUG: ") for line in lines), err
    assert any(line.startswith("coop authorities add: --name: ") for line in lines), err
    assert any("--gss-code: " in line and "E10000003" in line for line in lines), err
    assert any(line.startswith("coop authorities add: --region: ") for line in lines), err
    assert not offline.exists()


def test_clients_add_says_what_is_wrong_in_words(
    offline: Path, capsys: pytest.CaptureFixture
) -> None:
    assert cli.main(["clients", "add", "--authority", "x", "--scopes", "market:read nope"]) == 2
    err = capsys.readouterr().err
    _plain(err)
    assert "--scopes: unknown: nope" in err and all(s in err for s in SCOPES), err
    assert cli.main(["clients", "add", "--authority", "Bad Slug", "--scopes", "market:read"]) == 2
    err = capsys.readouterr().err
    _plain(err)
    assert "--authority: is not in the expected format" in err, err
    assert cli.main(["clients", "add", "--region", "r-1", "--scopes", ","]) == 2
    err = capsys.readouterr().err
    _plain(err)
    assert "--scopes: must be at least 1 item" in err, err
    assert not offline.exists()


def test_clients_add_names_the_regions_it_looked_in(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.setattr(cli, "load_settings", lambda: settings)
    monkeypatch.setattr(cli, "_configure_logging", lambda settings: None)
    monkeypatch.setattr(cli, "_exit_on_sigterm", lambda: None)
    region, slug = unique("cli-region"), unique("cli-council")
    argv = ["authorities", "add", slug, "--name", "A council", "--gss-code", gss()]
    assert cli.main([*argv, "--region", region]) == 0
    assert json.loads(capsys.readouterr().out)["region"] == region

    missing = unique("no-such")
    assert cli.main(["clients", "add", "--authority", missing, "--scopes", "market:read"]) == 2
    err = capsys.readouterr().err
    assert f'--authority: no authority "{missing}" (looked in every region: ' in err, err
    assert region in err

    assert cli.main(["clients", "add", "--authority", slug, "--scopes", "coop:admin"]) == 2
    err = capsys.readouterr().err
    assert "--scopes: coop:admin is for region-level clients" in err, err

    assert cli.main(["clients", "add", "--authority", slug, "--scopes", "market:read"]) == 0
    assert set(json.loads(capsys.readouterr().out)) == {"client_id", "client_secret"}


# -- coop init ---------------------------------------------------------------------------------


@pytest.mark.own_servers
def test_init_makes_a_data_directory_once_and_commands_use_it(empty_dir: Path) -> None:
    os.chmod(empty_dir, 0o755)  # the embedded PostgreSQL runs as its own system user
    data = empty_dir / "data"
    elsewhere = empty_dir / "elsewhere"
    elsewhere.mkdir()
    out = _coop(["--data-dir", str(data), "init"], empty_dir)
    assert out.returncode == 0, out.stderr
    assert str(data) in out.stdout and "keys/jwks.json" in out.stdout
    assert (data / "pg" / "PG_VERSION").is_file()

    again = _coop(["--data-dir", str(data), "init"], empty_dir)
    assert again.returncode == 0, again.stderr
    assert "already holds a database" in again.stdout

    add = _coop(["--data-dir", str(data), *ADD_SUFFOLK], elsewhere)
    assert add.returncode == 0, add.stderr
    assert json.loads(add.stdout)["slug"] == "suffolk"
    assert list(elsewhere.iterdir()) == []  # no second data directory where it ran

    configured = _coop(
        ["init"], elsewhere, {**_bare_env(), "COOP_DATABASE_URL": "postgresql+asyncpg://db/x"}
    )
    assert configured.returncode == 2 and "coop migrate" in configured.stderr
