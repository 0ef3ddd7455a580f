"""The wheel the image installs carries everything, and an installed coop migrates (issue #11,
point 1).

The wheel is built the way ``deploy/Dockerfile`` builds it: from a copy of exactly what its
build stage COPYs, by the same ``deploy/build-wheel`` script. It is installed (``--no-deps``)
in a fresh virtual environment that sees the project's dependencies but not the editable
``coop`` of the checkout, and that venv's ``bin/coop migrate``, run from an empty folder,
brings an empty database to head with the migrations the wheel carries.
"""

from __future__ import annotations

import asyncio
import os
import re
import shlex
import shutil
import subprocess
import sys
import sysconfig
import time
import tomllib
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
BUILD_WHEEL = "deploy/build-wheel"
#: What the wheel build needs at the top of the tree: the build stage must COPY each.
NEEDED = {"pyproject.toml", "README.md", "coop", "migrations", BUILD_WHEEL}
#: Data folders of the package: files, not Python packages.
DATA_DIRS = {"coop/board/templates"}


def _files(folder: Path) -> set[str]:
    """The files under ``folder``, relative to it, less bytecode."""
    return {
        p.relative_to(folder).as_posix()
        for p in folder.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
    }


# -- the package list (fast) -----------------------------------------------------------------


def test_packages_list_names_every_folder_of_coop() -> None:
    """``packages`` is listed by hand in pyproject.toml (``find`` cannot see the mapped
    ``coop.migrations``): a new subpackage left out of it would be left out of the wheel."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    folders = {
        ".".join(d.relative_to(ROOT).parts)
        for d in [ROOT / "coop", *(ROOT / "coop").rglob("*")]
        if d.is_dir()
        and "__pycache__" not in d.parts
        and d.relative_to(ROOT).as_posix() not in DATA_DIRS
        and any(d.glob("*.py"))
    }
    assert set(config["packages"]) == folders | {"coop.migrations"}
    assert config["package-dir"]["coop.migrations"] == "migrations"
    for data in DATA_DIRS:
        assert not any((ROOT / data).rglob("*.py")), f"{data} holds Python: make it a package"


# -- the Dockerfile ----------------------------------------------------------------------------


def _instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of a Dockerfile, continuation lines joined."""
    joined = re.sub(r"\\\n", " ", text)
    out = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), " ".join(rest.split())))
    return out


def _build_stage() -> list[tuple[str, str]]:
    """The instructions of the first stage (``FROM ... AS build``), up to the next FROM."""
    steps = _instructions(DOCKERFILE.read_text())
    assert steps[0][0] == "FROM" and steps[0][1].endswith("AS build")
    end = next(i for i, (word, _) in enumerate(steps[1:], 1) if word == "FROM")
    return steps[1:end]


def _copies() -> list[tuple[list[str], str]]:
    """(sources, destination) of each COPY of the build stage."""
    copies = []
    for word, args in _build_stage():
        if word == "COPY":
            *sources, dest = shlex.split(args)
            assert not any(s.startswith("--") for s in sources), args
            copies.append((sources, dest))
    return copies


def test_dockerfile_builds_the_wheel_with_the_script_from_what_it_copies() -> None:
    stage = _build_stage()
    assert dict(stage)["WORKDIR"] == "/src"
    copied = {source for sources, _ in _copies() for source in sources}
    assert copied >= NEEDED, f"the build stage does not COPY {NEEDED - copied}"
    runs = [args for word, args in stage if word == "RUN"]
    assert any(
        f"sh {BUILD_WHEEL} /dist" in run and "pip install /dist/coop-*.whl" in run for run in runs
    ), runs
    # nothing else installs coop: no `pip install .` from the tree
    assert not any(re.search(r"pip install (-e )?\.(\s|$)", run) for run in runs)
    # the runtime stage runs as the unprivileged user
    assert "USER 10001:10001" in DOCKERFILE.read_text().rsplit("FROM ", 1)[1]
    # every COPY source gets past deploy/Dockerfile.dockerignore (it ignores all but these)
    ignore = (ROOT / "deploy" / "Dockerfile.dockerignore").read_text().splitlines()
    allowed = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}
    assert copied <= allowed, copied - allowed


def _docker_context(into: Path) -> Path:
    """Lay out what the build stage COPYs, as the image's /src has it."""
    src = into / "src"
    src.mkdir()
    for sources, dest in _copies():
        for source in sources:
            origin = ROOT / source
            target = src / dest / origin.name if dest.endswith("/") else src / dest
            target.parent.mkdir(parents=True, exist_ok=True)
            if origin.is_dir():
                ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
                shutil.copytree(origin, target, ignore=ignore)
            else:
                shutil.copy2(origin, target)
    return src


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("wheel")


@pytest.fixture(scope="module")
def wheel(work: Path) -> Path:
    """The wheel, built the Dockerfile's way: ``sh deploy/build-wheel /dist`` in its /src."""
    src = _docker_context(work)
    dist = work / "dist"
    started = time.monotonic()
    run = subprocess.run(
        ["sh", BUILD_WHEEL, str(dist)],
        cwd=src,
        env={**os.environ, "PYTHON": sys.executable},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    print(f"wheel built in {time.monotonic() - started:.1f} s")
    (built,) = dist.glob("coop-*.whl")
    return built


def test_wheel_holds_every_migration_and_template(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {f"coop/migrations/{name}" for name in _files(ROOT / "migrations")}
    expected |= {
        f"coop/{name}"
        for name in _files(ROOT / "coop")
        if name.endswith(".py") or name.startswith("board/templates/")
    }
    assert any(name.startswith("coop/migrations/versions/") for name in expected)
    assert any(name.startswith("coop/board/templates/") for name in expected)
    assert expected - names == set(), "left out of the wheel"
    assert not any(name.startswith(("tests/", "migrations/")) for name in names)


# -- the installed wheel migrates ----------------------------------------------------------------


def _version(url: str) -> list[str]:
    async def run() -> list[str]:
        engine = create_async_engine(url)
        async with engine.connect() as conn:
            rows = await conn.execute(sa.text("SELECT version_num FROM alembic_version"))
            found = [row[0] for row in rows]
        await engine.dispose()
        return found

    return asyncio.run(run())


def _head() -> str:
    """The newest revision of migrations/versions: the one no other revision follows."""
    revisions, parents = set(), set()
    for path in (ROOT / "migrations" / "versions").glob("*.py"):
        text = path.read_text()
        revision = re.search(r"^revision(?::\s*str)?\s*=\s*['\"]([^'\"]+)", text, re.M)
        assert revision, path
        revisions.add(revision.group(1))
        parents |= set(
            re.findall(r"['\"]([^'\"]+)['\"]", text.split("down_revision", 1)[1].split("\n")[0])
        )
    heads = revisions - parents
    assert len(heads) == 1, f"migrations/versions has heads {heads}"
    return heads.pop()


@pytest.fixture
def empty_database(new_database: Callable[..., str]) -> str:
    """A new, empty database on the session's server (machine or embedded); dropped after."""
    return new_database(migrate=False)


def _run(args: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    run = subprocess.run(args, capture_output=True, text=True, timeout=300, **kwargs)  # type: ignore[call-overload]
    assert run.returncode == 0, f"{args}: {run.returncode}\n{run.stdout}\n{run.stderr}"
    return run


def test_installed_wheel_migrates_an_empty_database(
    wheel: Path, work: Path, empty_database: str
) -> None:
    started = time.monotonic()
    venv = work / "venv"
    _run([sys.executable, "-m", "venv", str(venv)])
    python = venv / "bin" / "python"
    # The wheel alone, before the venv can see anything else (pip must not find the
    # checkout's editable coop and call the wheel "already satisfied").
    _run([str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)])
    # Then the project's dependencies, without reinstalling them: a plain path line adds
    # .venv's site-packages to sys.path but does not run the .pth files there, so the
    # editable finder of the checkout's coop is not loaded.
    site = Path(
        _run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"]
        ).stdout.strip()
    )
    (site / "coop-test-deps.pth").write_text(sysconfig.get_path("purelib") + "\n")

    here = work / "elsewhere"  # not the checkout: nothing of it on sys.path
    here.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("COOP_")}
    env.pop("PYTHONPATH", None)
    env["COOP_DATABASE_URL"] = empty_database

    where = _run(
        [
            str(python),
            "-c",
            "import coop, coop.migrations, alembic; "
            "print(coop.__file__); print(coop.migrations.__file__); print(alembic.__file__)",
        ],
        cwd=here,
        env=env,
    ).stdout.split()
    coop_file, migrations_file, alembic_file = map(Path, where)
    assert coop_file.is_relative_to(venv), coop_file
    assert migrations_file.is_relative_to(venv), migrations_file
    assert not alembic_file.is_relative_to(venv)  # a dependency, from the project's venv
    installed = migrations_file.parent
    assert _files(installed / "versions") == _files(ROOT / "migrations" / "versions")

    _run([str(venv / "bin" / "coop"), "migrate"], cwd=here, env=env)

    assert _version(empty_database) == [_head()]
    assert not (here / ".coop").exists(), "coop migrate made an embedded data directory"
    print(f"venv, install and migrate in {time.monotonic() - started:.1f} s")
