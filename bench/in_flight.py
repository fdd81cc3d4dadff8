"""`python -m bench` with another number of groups on their way (`eventstore/group.py`
IN_FLIGHT), for measuring it (bench/README.md section 23):

    IN_FLIGHT=3 BENCH_ONLY=ceilings,append BENCH_PROFILE=0 python -m bench.in_flight
"""

from __future__ import annotations

import os
import runpy
import sys

from eventstore.group import GroupCommitter


def main() -> None:
    wanted = int(os.environ["IN_FLIGHT"])
    defaults = list(GroupCommitter.__init__.__defaults__ or ())
    defaults[1] = wanted  # (max_group, in_flight)
    GroupCommitter.__init__.__defaults__ = tuple(defaults)
    print(f"groups on their way: {wanted}", flush=True)
    sys.argv = ["bench"]
    runpy.run_module("bench", run_name="__main__")


if __name__ == "__main__":
    main()
