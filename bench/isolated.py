"""Run one measurement in a fresh server process: ``python -m bench.isolated FUNCTION JSON_KWARGS``.

Row 7 measures RSS growth. In the suite's long-lived process, memory freed by earlier runs (push-all leaves
~100 MB of transport buffers behind) stays in the allocator's free lists, and a later run's allocations are
served from it without the RSS moving, so a leak could hide. A fresh process per case has no such slack.
"""

from __future__ import annotations

import json
import sys

from bench import rows

if __name__ == "__main__":
    result = getattr(rows, sys.argv[1])(**json.loads(sys.argv[2]))
    print("RESULT " + json.dumps(result), flush=True)
