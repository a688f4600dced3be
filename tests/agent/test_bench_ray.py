"""`agent bench --ray`: the same units as Ray tasks on a local Ray instance, the same records.

Skipped unless Ray is installed (`pip install .[ray]`). The test starts the instance itself
with this checkout and the test helpers on the workers' PYTHONPATH (the scripted pieces are
imported by name there); `run_bench` then uses the connection it finds.
"""

import os
import sys
from pathlib import Path

import pytest

from agent.cli.bench import run_bench
from agent.bench.results import RESULTS, read_results
from agent.cli import build_parser
from agent.output.report import strip_timings

ray = pytest.importorskip("ray")

from test_bench import CONFIG, PIECES, STUDY, by_key, write_suite  # noqa: E402  (after the skip)

HERE = Path(__file__).resolve().parent


@pytest.mark.slow
def test_ray_tasks_give_the_same_records_as_one_local_process(tmp_path):
    suite = write_suite(tmp_path / "suite")
    config = tmp_path / "bench.yaml"
    config.write_text(CONFIG)

    def bench(out, *flags):
        args = build_parser().parse_args(["bench", str(suite), "--out", str(tmp_path / out), "--config", str(config),
                                          "--no-progress", *STUDY, *flags])
        assert run_bench(args, **PIECES) == 0
        return by_key(read_results(tmp_path / out / RESULTS))

    local = bench("local")
    path = os.pathsep.join([str(HERE), str(HERE.parent), str(HERE.parents[1]), *sys.path])
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": path, "OMP_NUM_THREADS": "1"}})
    try:
        on_ray = bench("ray", "--ray", "auto", "--workers", "2")
    finally:
        ray.shutdown()
    assert {k: strip_timings(r) for k, r in on_ray.items()} == {k: strip_timings(r) for k, r in local.items()}
