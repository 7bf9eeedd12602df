"""Check that requirements.lock still answers pyproject.toml: every package the project declares
(runtime, test and bench extras) is locked, at a version its range admits. Exit 1 with the
mismatches and the command that refreshes the lock otherwise."""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
EXTRAS = ("test", "bench")
REFRESH = (
    "uv pip compile pyproject.toml --extra test --extra bench --python-version 3.11 "
    "--python-platform x86_64-unknown-linux-gnu --annotation-style line -o requirements.lock"
)


def locked_versions(lock: Path) -> dict[str, str]:
    versions = {}
    for line in lock.read_text(encoding="utf-8").splitlines():
        match = re.match(r"^([A-Za-z0-9_.\-]+)==([^\s;#]+)", line)
        if match:
            versions[canonicalize_name(match.group(1))] = match.group(2)
    return versions


def mismatches(pyproject: Path, lock: Path) -> list[str]:
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    declared = list(project["dependencies"])
    for extra in EXTRAS:
        declared += project["optional-dependencies"][extra]
    versions = locked_versions(lock)
    problems = []
    for text in declared:
        requirement = Requirement(text)
        if requirement.marker and not requirement.marker.evaluate({"extra": ""}):
            continue
        version = versions.get(canonicalize_name(requirement.name))
        if version is None:
            problems.append(f"{requirement.name} is declared ({text}) but not locked")
        elif not requirement.specifier.contains(version, prereleases=True):
            problems.append(f"{requirement.name}=={version} is locked but pyproject asks {text}")
    return problems


def main() -> int:
    problems = mismatches(ROOT / "pyproject.toml", ROOT / "requirements.lock")
    if not problems:
        return 0
    print("requirements.lock no longer matches pyproject.toml:", file=sys.stderr)
    for problem in problems:
        print(f"  - {problem}", file=sys.stderr)
    print(f"Refresh it (pip install uv), then commit it:\n  {REFRESH}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
