"""20 threads and 4 processes (5 threads each) find one connection expired at once: exactly one refresh."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.slow
def test_only_one_refresh_reaches_ghl_when_a_crowd_finds_the_token_expired():
    result = subprocess.run(
        [sys.executable, "bench/refresh_race.py", "--threads", "20", "--processes", "4", "--threads-per-process", "5"],
        cwd=ROOT, env=dict(os.environ), capture_output=True, text=True, timeout=300,
    )
    lines = result.stdout.strip().splitlines()
    assert lines, result.stderr[-2000:]
    assert lines[-2] == "callers=40 succeeded=40 failed=0", result.stdout[-2000:]
    assert lines[-1] == "refresh_requests=1 invalid_grant=0 stale_token_uses=0"
    assert result.returncode == 0
