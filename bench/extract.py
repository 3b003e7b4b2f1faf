"""Time ``extract_profile`` on every shared creator page against a bare BeautifulSoup parse.

Usage: ``python bench/extract.py [--repeat N]``. For each page prints the median extraction
time, the median time of ``BeautifulSoup(html, "html.parser")`` on the same page in the same
run, and their ratio (extraction / parse; below 1.0 means extraction is faster).
Shared pages are found at ``<repo>/../shared`` or ``$CREATORSCRAPE_SHARED``.
"""

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

from bs4 import BeautifulSoup

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from app.scraping import extract_profile  # noqa: E402

SHARED = Path(os.environ.get("CREATORSCRAPE_SHARED") or REPO_ROOT.parent / "shared")


def median_seconds(func: Callable[[], object], repeat: int) -> float:
    """Run ``func`` ``repeat`` times and return the median wall time in seconds.

    Args:
        func (Callable[[], object]): the work to time.
        repeat (int): number of runs.

    Returns:
        float: median duration in seconds.
    """
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    """Print the benchmark table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7, help="runs per page (default 7)")
    args = parser.parse_args()
    sidecars = sorted((SHARED / "fixtures" / "creators").glob("*/*.json"))
    if not sidecars:
        sys.exit(f"no pages under {SHARED}/fixtures/creators (set CREATORSCRAPE_SHARED)")
    print(f"{'page':<44}{'KB':>7}{'extract ms':>12}{'bs4 ms':>10}{'ratio':>8}")
    for sidecar in sidecars:
        url = json.loads(sidecar.read_text(encoding="utf-8")).get("url") or ""
        html = sidecar.with_suffix(".html").read_text(encoding="utf-8")
        extract = median_seconds(lambda: extract_profile(url, html), args.repeat)  # noqa: B023
        parse = median_seconds(lambda: BeautifulSoup(html, "html.parser"), args.repeat)  # noqa: B023
        name = f"{sidecar.parent.name}/{sidecar.stem}"
        kilobytes = len(html.encode("utf-8")) / 1024
        flag = "  <- slower than parse" if kilobytes > 200 and extract >= parse else ""
        print(
            f"{name:<44}{kilobytes:>7.0f}{extract * 1000:>12.2f}{parse * 1000:>10.1f}"
            f"{extract / parse:>8.3f}{flag}"
        )


if __name__ == "__main__":
    main()
