"""Check a built sdist and wheel against the repository: what a release would ship.

    python scripts/check_dist.py DIST_DIR [--repo PATH]

The sdist must hold every file git tracks under the sdist's `include` list in pyproject.toml and nothing else
(besides PKG-INFO and .gitignore, which the backend adds); the wheel must hold exactly the tracked files of the
package plus its .dist-info, name the `vapi-mcp` entry point and carry the version in pyproject.toml. Missing
release niceties (a license file, the py.typed marker the `Typing :: Typed` classifier promises) are errors too.
Exits non-zero when a check fails.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from email.parser import Parser
from pathlib import Path
from typing import Any

BACKEND_ADDED = {"PKG-INFO", ".gitignore"}
PACKAGE = "vapi_mcp"
ENTRY_POINT = "vapi-mcp = vapi_mcp.cli:main"


def _name(requirement: str) -> str:
    match = re.match(r"[A-Za-z0-9._-]+", requirement)
    return match.group(0).lower() if match else requirement


def tracked(repo: Path, paths: list[str]) -> set[str]:
    out = subprocess.run(["git", "-C", str(repo), "ls-files", "-z", "--", *paths], capture_output=True, check=True)
    return {name for name in out.stdout.decode().split("\0") if name}


def one(dist: Path, pattern: str) -> Path:
    found = sorted(dist.glob(pattern))
    if len(found) != 1:
        sys.exit(f"check_dist: expected one {pattern} in {dist}, found {[p.name for p in found]}")
    return found[0]


def compare(what: str, got: set[str], expected: set[str], errors: list[str]) -> None:
    if missing := sorted(expected - got):
        errors.append(f"{what} lacks tracked files: {missing[:20]}")
    if extra := sorted(got - expected):
        errors.append(f"{what} holds files git does not track (untracked or generated): {extra[:20]}")


def check_sdist(sdist: Path, repo: Path, project: dict[str, Any], errors: list[str]) -> int:
    prefix = f"{PACKAGE}-{project['project']['version']}/"
    with tarfile.open(sdist) as tar:
        members = [m.name for m in tar.getmembers() if m.isfile()]
    outside = [m for m in members if not m.startswith(prefix)]
    if outside:
        errors.append(f"sdist members outside {prefix}: {outside[:10]}")
    names = {m.removeprefix(prefix) for m in members}
    include = list(project["tool"]["hatch"]["build"]["targets"]["sdist"]["include"])
    expected = tracked(repo, include) | {"pyproject.toml"}
    compare("sdist", names - BACKEND_ADDED, expected, errors)
    return len(names)


def check_wheel(wheel: Path, repo: Path, project: dict[str, Any], errors: list[str], warnings: list[str]) -> int:
    version = project["project"]["version"]
    dist_info = f"{PACKAGE}-{version}.dist-info/"
    with zipfile.ZipFile(wheel) as whl:
        names = set(whl.namelist())
        metadata = Parser().parsestr(whl.read(dist_info + "METADATA").decode())
        entry_points = whl.read(dist_info + "entry_points.txt").decode()
    compare("wheel", {n for n in names if not n.startswith(dist_info)}, tracked(repo, [PACKAGE]), errors)
    if metadata["Name"] != project["project"]["name"] or metadata["Version"] != version:
        errors.append(f"wheel metadata names {metadata['Name']} {metadata['Version']}")
    required = {_name(r) for r in metadata.get_all("Requires-Dist") or [] if "extra ==" not in r}
    if missing := sorted({_name(d) for d in project["project"]["dependencies"]} - required):
        errors.append(f"wheel metadata does not require {missing}")
    if ENTRY_POINT not in entry_points.replace("  ", " "):
        errors.append(f"wheel has no console script `{ENTRY_POINT}`: {entry_points!r}")
    if not any(n.startswith(dist_info + "licenses/") for n in names):
        errors.append(f"no license file ships although pyproject declares {project['project'].get('license')!r}")
    if "Typing :: Typed" in project["project"].get("classifiers", []) and f"{PACKAGE}/py.typed" not in names:
        errors.append(f"classifier `Typing :: Typed` but no {PACKAGE}/py.typed marker")
    return len(names)


def main() -> int:
    parser = argparse.ArgumentParser(description="Check a built sdist and wheel against the repository.")
    parser.add_argument("dist", type=Path)
    parser.add_argument("--repo", type=Path, default=Path(__file__).resolve().parent.parent)
    args = parser.parse_args()

    project = tomllib.loads((args.repo / "pyproject.toml").read_text())
    errors: list[str] = []
    warnings: list[str] = []
    n_sdist = check_sdist(one(args.dist, "*.tar.gz"), args.repo, project, errors)
    n_wheel = check_wheel(one(args.dist, "*.whl"), args.repo, project, errors, warnings)
    for warning in warnings:
        print(f"check_dist: warning: {warning}", file=sys.stderr)
    for error in errors:
        print(f"check_dist: FAIL: {error}", file=sys.stderr)
    if errors:
        return 1
    print(f"check_dist: ok (sdist {n_sdist} files, wheel {n_wheel} files, {len(warnings)} warnings)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
