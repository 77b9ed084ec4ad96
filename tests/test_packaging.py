"""An installed geoverify carries its sample day: ``geoverify demo`` finds the sample grids,
tracks, events and sites outside a checkout.

The packages are laid out as a wheel would hold them (setuptools' ``build_py`` with the project's
``setup.cfg``: the same packages and package data as ``pip wheel``, with nothing downloaded or
installed), then ``geoverify demo --no-serve`` runs from them in a folder outside the repository.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = (
    "geoverify/samples/grids/dongcheng_sample.geojson",
    "geoverify/samples/sample_tracks/honest_M001.csv",
    "geoverify/samples/sample_tracks/events/events.csv",
    "geoverify/samples/sample_tracks/sites/sites.csv",
    "geoverify/samples/sample_tracks/README.md",
)


def _build_packages(out: Path) -> Path:
    """The project's packages and package data as a wheel holds them, under ``out/lib``."""
    lib = out / "lib"
    out.mkdir(parents=True)
    script = "import setuptools; setuptools.setup()"
    command = [
        sys.executable,
        "-c",
        script,
        "-q",
        "egg_info",
        "--egg-base",
        str(out),
        "build_py",
        "--build-lib",
        str(lib),
    ]
    result = subprocess.run(command, check=False, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return lib


@pytest.mark.slow
def test_installed_demo_finds_the_samples_outside_the_checkout(tmp_path):
    lib = _build_packages(tmp_path / "build")
    missing = [name for name in SAMPLES if not (lib / name).is_file()]
    assert not missing, f"not in the package data: {missing}"
    # Everything installs under geoverify: the service is geoverify.api, with its page's files.
    assert sorted(p.name for p in lib.iterdir()) == ["geoverify"]
    assert (lib / "geoverify/api/templates/map.html").is_file()
    assert (lib / "geoverify/api/static/map/map.js").is_file()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    # -P: not the working directory first; PYTHONPATH: the built packages, not the checkout.
    program = (
        "import sys, geoverify; assert geoverify.__file__.startswith(sys.argv[1]), geoverify.__file__; "
        "from geoverify.cli.main import main; sys.argv = ['geoverify', *sys.argv[2:]]; main()"
    )
    env = {**os.environ, "PYTHONPATH": str(lib)}
    env.pop("GEOVERIFY_DATABASE_URL", None)
    command = [sys.executable, "-P", "-c", program, str(lib), "demo", "--no-serve", "--db", "demo/geoverify.db"]
    result = subprocess.run(command, check=False, cwd=elsewhere, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    assert "grids/dongcheng_sample.geojson: grids_read=6" in out
    assert "sample_tracks/honest_M001.csv" in out and "sample_tracks/sites/sites.csv" in out
    assert "scorer" in out and (elsewhere / "demo" / "geoverify.db").is_file()
    # The tokens, for the README's tour: `. demo/tokens.env`, readable by its owner only.
    tokens = elsewhere / "demo" / "tokens.env"
    assert tokens.stat().st_mode & 0o077 == 0
    lines = tokens.read_text().splitlines()
    assert "export API=http://127.0.0.1:8000/api/v1" in lines
    assert {line.split("=")[0] for line in lines if "_TOKEN=gv_" in line} == {
        f"export {role}_TOKEN" for role in ("ADMIN", "UPLOADER", "SUPERVISOR", "AUDITOR", "SCORER")
    }
