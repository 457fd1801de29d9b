"""`bench/pull_contacts.py` at a small size: it runs end to end and its last line keeps its format."""
import importlib.util
import re
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[3] / "bench" / "pull_contacts.py"
LAST_LINE = re.compile(r"^ratio_to_floor=(\d+\.\d\d) http_429=(\d+)$")


def test_bench_pulls_every_contact_and_reports_ratio_and_429s():
    done = subprocess.run([sys.executable, str(BENCH), "--contacts", "1500", "--page-size", "100"],
                          capture_output=True, text=True, timeout=120)

    lines = done.stdout.strip().splitlines()
    assert done.returncode == 0, done.stdout + done.stderr[-2000:]
    assert "pulled 1500 contacts in 15 requests (page size 100)" in lines
    assert "time_s=" in lines[-2] and "requests=15 floor_s=0.00" in lines[-2]
    match = LAST_LINE.match(lines[-1])
    assert match, lines[-1]
    assert match.group(1) == "0.00"  # 15 requests fit one burst: floor 0, nothing to compare with
    assert match.group(2) == "0"


def test_floor_formula():
    spec = importlib.util.spec_from_file_location("pull_contacts", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    floor_seconds = module.floor_seconds

    assert floor_seconds(15, 100, 10.0) == 0
    assert floor_seconds(300, 100, 10.0) == 20.0
    assert floor_seconds(120, 20, 1.0) == 5.0
