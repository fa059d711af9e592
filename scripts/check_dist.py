"""``make dist``'s content check: the sdist and the wheel in a directory hold what they should, by rule.

Wheel: only the package and its dist-info; the package's files are exactly the sdist's (so every tracked
module and data file, ``py.typed`` and the emulator included); LICENSE in the dist-info; the version
single-sourced from the package; the Airflow provider entry point and the emulator's console script.
Sdist: every tracked file a packager needs to rebuild the wheel and run the tests, and nothing untracked.
Usage: python scripts/check_dist.py dist/
"""

from __future__ import annotations

import ast
import configparser
import re
import subprocess
import sys
import tarfile
import zipfile
from email.message import Message
from email.parser import Parser
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGE = "airflow_provider_drpipelines"
DIST_NAME = "airflow-provider-drpipelines"
# Everything under these is needed to rebuild the wheel and to run tests/ from the unpacked sdist.
SDIST_TREES = (f"{PACKAGE}/", "tests/", "example_dags/", "bench/")
SDIST_FILES = ("pyproject.toml", "MANIFEST.in", "README.md", "LICENSE", "CHANGELOG.md")
WHEEL_REQUIRED = (f"{PACKAGE}/__init__.py", f"{PACKAGE}/py.typed", f"{PACKAGE}/emulator/__init__.py")
ENTRY_POINTS = (  # (group, name, object reference)
    ("apache_airflow_provider", "provider_info", f"{PACKAGE}.get_provider_info:get_provider_info"),
    ("console_scripts", "drpipelines-emulator", f"{PACKAGE}.emulator.__main__:main"),
)
METADATA_REQUIRED = {
    "Name": DIST_NAME,
    "License-Expression": "Apache-2.0",
    "License-File": "LICENSE",
    "Requires-Python": ">=3.10",
    "Description-Content-Type": "text/markdown",
}
PROJECT_URLS = ("Documentation", "Changelog")
CLASSIFIER_PREFIXES = ("Framework :: Apache Airflow :: Provider", "Programming Language :: Python :: 3.1")
JUNK = re.compile(r"(^|/)(__pycache__/|\.[^/]*cache/|.*\.py[cod]$)")


def source_version() -> str:
    """``__version__`` as written in the package source: the one place the version lives."""
    tree = ast.parse((REPO / PACKAGE / "__init__.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "__version__" for t in node.targets):
            return str(ast.literal_eval(node.value))
    raise SystemExit(f"no __version__ assignment in {PACKAGE}/__init__.py")


def tracked_files() -> set[str]:
    """Regular files git tracks (symlinks left out: the files they point at are tracked themselves)."""
    listed = subprocess.run(["git", "ls-files", "-s"], cwd=REPO, check=True, capture_output=True, text=True).stdout
    return {line.split("\t", 1)[1] for line in listed.splitlines() if not line.startswith("120000 ")}


def only(directory: Path, pattern: str) -> Path:
    found = sorted(directory.glob(pattern))
    if len(found) != 1:
        raise SystemExit(f"expected exactly one {pattern} in {directory}, found {[p.name for p in found]}")
    return found[0]


def check_metadata(metadata: Message, version: str, where: str) -> list[str]:
    problems = [
        f"{where}: {field} is {metadata.get(field)!r}, expected {expected!r}"
        for field, expected in {**METADATA_REQUIRED, "Version": version}.items()
        if metadata.get(field) != expected
    ]
    urls = {entry.split(",", 1)[0].strip() for entry in metadata.get_all("Project-URL") or []}
    problems += [f"{where}: no Project-URL {label!r}" for label in PROJECT_URLS if label not in urls]
    classifiers = metadata.get_all("Classifier") or []
    problems += [
        f"{where}: no classifier starting with {prefix!r}"
        for prefix in CLASSIFIER_PREFIXES
        if not any(c.startswith(prefix) for c in classifiers)
    ]
    return problems


def check_sdist(sdist: Path, version: str, tracked: set[str]) -> tuple[list[str], set[str]]:
    """Problems with the sdist, and the package files it holds (what the wheel must hold too)."""
    root = f"{DIST_NAME.replace('-', '_')}-{version}/"
    with tarfile.open(sdist) as archive:
        members = {m.name.removeprefix(root) for m in archive.getmembers() if m.isfile()}
        pkg_info = archive.extractfile(root + "PKG-INFO")
        assert pkg_info is not None
        problems = check_metadata(Parser().parsestr(pkg_info.read().decode()), version, sdist.name)
    generated = {m for m in members if m in ("PKG-INFO", "setup.cfg") or m.startswith(f"{PACKAGE}.egg-info/")}
    shipped = members - generated
    needed = {f for f in tracked if f.startswith(SDIST_TREES) or f in SDIST_FILES}
    problems += [f"{sdist.name}: missing {f}" for f in sorted(needed - shipped)]
    untracked = {f for f in shipped if (REPO / f).resolve().relative_to(REPO).as_posix() not in tracked}
    problems += [f"{sdist.name}: holds untracked {f}" for f in sorted(untracked)]
    problems += [f"{sdist.name}: holds {f}" for f in sorted(shipped) if JUNK.search(f)]
    return problems, {f for f in shipped if f.startswith(f"{PACKAGE}/")}


def check_wheel(wheel: Path, version: str, package_files: set[str]) -> list[str]:
    dist_info = f"{PACKAGE}-{version}.dist-info/"
    with zipfile.ZipFile(wheel) as archive:
        members = {name for name in archive.namelist() if not name.endswith("/")}
        metadata = Parser().parsestr(archive.read(dist_info + "METADATA").decode())
        entry_points = archive.read(dist_info + "entry_points.txt").decode()
        license_path = dist_info + "licenses/LICENSE"
        license_text = archive.read(license_path) if license_path in members else b""
    problems = check_metadata(metadata, version, wheel.name)
    outside = {m for m in members if not m.startswith((f"{PACKAGE}/", dist_info))}
    problems += [f"{wheel.name}: holds {m} (outside the package)" for m in sorted(outside)]
    in_package = {m for m in members if m.startswith(f"{PACKAGE}/")}
    problems += [f"{wheel.name}: missing {f} (in the sdist)" for f in sorted(package_files - in_package)]
    problems += [f"{wheel.name}: holds {f} (not in the sdist)" for f in sorted(in_package - package_files)]
    problems += [f"{wheel.name}: missing {f}" for f in WHEEL_REQUIRED if f not in members]
    problems += [f"{wheel.name}: holds {f}" for f in sorted(members) if JUNK.search(f)]
    if license_text != (REPO / "LICENSE").read_bytes():
        problems.append(f"{wheel.name}: {dist_info}licenses/LICENSE is missing or differs from LICENSE")
    declared = configparser.ConfigParser(interpolation=None)
    declared.optionxform = str  # type: ignore[assignment,method-assign]  # entry point names are case-sensitive
    declared.read_string(entry_points)
    problems += [
        f"{wheel.name}: entry_points.txt lacks [{group}] {name} = {target}"
        for group, name, target in ENTRY_POINTS
        if not declared.has_section(group) or declared[group].get(name) != target
    ]
    return problems


def main(directory: str) -> int:
    dist = Path(directory)
    version = source_version()
    sdist, wheel = only(dist, "*.tar.gz"), only(dist, "*.whl")
    if wheel.name != f"{PACKAGE}-{version}-py3-none-any.whl":
        print(f"unexpected wheel name {wheel.name}: not a pure-Python wheel of version {version}")
        return 1
    problems, package_files = check_sdist(sdist, version, tracked_files())
    problems += check_wheel(wheel, version, package_files)
    for problem in problems:
        print(f"  {problem}")
    verdict = "FAILED" if problems else "ok"
    print(f"content check {verdict}: {sdist.name} ({len(package_files)} package files), {wheel.name}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "dist"))
