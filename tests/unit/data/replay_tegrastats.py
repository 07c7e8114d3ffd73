"""Stands in for /usr/bin/tegrastats in tests: prints the lines of a recording, one per --interval ms."""

import argparse
import sys
import time
from pathlib import Path

parser = argparse.ArgumentParser()
parser.add_argument("--recording", required=True)
parser.add_argument("--loop", action="store_true")
parser.add_argument("--pace-ms", type=float, help="replay at this pace instead of --interval (fast tests)")
parser.add_argument("--interval", type=int, default=1000)  # the real tool's option, in ms
args = parser.parse_args()
pace = (args.pace_ms if args.pace_ms is not None else args.interval) / 1000.0
lines = [line for line in Path(args.recording).read_text().splitlines() if line.strip()]
while True:
    for line in lines:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()
        time.sleep(pace)
    if not args.loop:
        break
