"""What a monitoring host gets from ``pip install``: the plugin package and nothing else."""

import os
import re
import shutil
import subprocess
import sys
import zipfile

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Not part of a source tree that pip would build from (and large).
NOT_SOURCE = (".git", ".venv", ".peer-venv", "node_modules", "build", "*.egg-info",
              "__pycache__", ".pytest_cache")


def test_the_wheel_holds_only_the_plugin_package(tmp_path):
    pytest.importorskip("pip", reason="the Debian tier has no pip; the pip tier builds it")
    source = tmp_path / "source"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(*NOT_SOURCE))
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path / "dist"),
         str(source)], capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr
    (wheel,) = (tmp_path / "dist").iterdir()
    names = zipfile.ZipFile(wheel).namelist()
    tops = {name.split("/", 1)[0] for name in names}
    assert {top for top in tops if not top.endswith(".dist-info")} == {
        "check_entra_noninteractive"}
    modules = {name for name in names if name.startswith("check_entra_noninteractive/")}
    assert "check_entra_noninteractive/cli.py" in modules
    assert "check_entra_noninteractive/sources/graph.py" in modules
    assert not any(name.endswith("sample.py") for name in names)
    # Every package module is in the wheel, and nothing else of the package directory.
    shipped = {os.path.relpath(os.path.join(folder, name), ROOT)
               for folder, _, files in os.walk(os.path.join(ROOT, "check_entra_noninteractive"))
               for name in files if name.endswith(".py")}
    assert modules == shipped


def test_how_it_works_names_every_module_of_the_package():
    readme = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    section = readme.split("## How it works", 1)[1].split("\n## ", 1)[0]
    listed = set(re.findall(r"^\| `([a-z_/]+\.py)` \|", section, re.M))
    package = os.path.join(ROOT, "check_entra_noninteractive")
    modules = {os.path.relpath(os.path.join(folder, name), package)
               for folder, _, files in os.walk(package) for name in files
               if name.endswith(".py") and (name != "__init__.py" or folder != package)}
    assert listed == modules


def test_no_module_of_the_package_is_over_400_lines():
    package = os.path.join(ROOT, "check_entra_noninteractive")
    lengths = {os.path.relpath(os.path.join(folder, name), package):
               sum(1 for _ in open(os.path.join(folder, name), encoding="utf-8"))
               for folder, _, files in os.walk(package) for name in files
               if name.endswith(".py")}
    assert {name: lines for name, lines in lengths.items() if lines > 400} == {}
