"""``--engine dask``: a real two-worker LocalCluster (separate processes) gives the same JSON as one process."""

import json
import socket
import sys

import distributed
import pytest
from click.testing import CliRunner
from test_parallel import ROOT, city, city_args, city_single, run, sample_args  # noqa: F401 (fixtures)

from geoverify.cli.main import main


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, host="127.0.0.1"
    ) as local:
        yield local


def partition(tracks, out, buckets="8"):
    done = CliRunner().invoke(main, ["partition", "--tracks", str(tracks), "--out", str(out), "--buckets", buckets])
    assert done.exit_code == 0, done.output
    return out


@pytest.mark.slow
def test_city_on_two_dask_workers_matches_one_process(cluster, city, city_single, tmp_path):  # noqa: F811
    parts = partition(city["tracks"], tmp_path / "city")
    out = run(city_args(city, parts) + ["--engine", "dask", "--scheduler", cluster.scheduler_address])
    assert out == city_single
    assert {p["member_id"] for p in json.loads(out)["patrols"]} >= {"P1", "P2", "R1", "N1"}
    # The eight buckets ran as eight tasks on the cluster's two worker processes.
    with distributed.Client(cluster, set_as_default=False) as client:
        ran = client.run(
            lambda dask_worker: sorted(
                {str(entry[0]) for entry in dask_worker.state.log if str(entry[0]).startswith("geoverify-part")}
            )
        )
    assert len(ran) == 2 and all(ran.values())
    assert len({key for keys in ran.values() for key in keys}) == 8


def test_sample_day_on_dask_matches_one_process(cluster, tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)  # relative paths, so each fix's evidence names the same source file
    parts = partition("sample_tracks", tmp_path / "sample")
    single = run(sample_args() + ["--tracks", "sample_tracks", "--workers", "1"])
    assert (
        run(sample_args() + ["--tracks", str(parts), "--engine", "dask", "--scheduler", cluster.scheduler_address])
        == single
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_scheduler_names_the_address(city, tmp_path):  # noqa: F811
    parts = partition(city["tracks"], tmp_path / "p", "2")
    address = f"tcp://127.0.0.1:{free_port()}"
    result = CliRunner().invoke(
        main,
        ["verify", *city_args(city, parts), "--engine", "dask", "--scheduler", address, "--scheduler-timeout", "1"],
    )
    assert result.exit_code == 2
    assert f"cannot reach the Dask scheduler at {address} within 1 s" in result.stderr


def test_missing_dask_says_what_to_install(city, tmp_path, monkeypatch):  # noqa: F811
    parts = partition(city["tracks"], tmp_path / "p", "2")
    monkeypatch.setitem(sys.modules, "distributed", None)  # as if dask[distributed] were not installed
    result = CliRunner().invoke(
        main, ["verify", *city_args(city, parts), "--engine", "dask", "--scheduler", "tcp://127.0.0.1:8786"]
    )
    assert result.exit_code == 2 and "pip install 'geoverify[dask]'" in result.stderr


def test_dask_needs_a_partitioned_table_and_a_scheduler(city):  # noqa: F811
    result = CliRunner().invoke(main, ["verify", *city_args(city), "--engine", "dask", "--scheduler", "tcp://x:1"])
    assert result.exit_code == 2 and "geoverify partition --tracks" in result.output
    result = CliRunner().invoke(main, ["verify", *city_args(city), "--engine", "dask"])
    assert result.exit_code == 2 and "--engine dask needs --scheduler ADDRESS" in result.output
    result = CliRunner().invoke(main, ["verify", *city_args(city), "--scheduler", "tcp://x:1"])
    assert result.exit_code == 2 and "--scheduler needs --engine dask" in result.output
