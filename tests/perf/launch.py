"""Run a command and write its wall time, CPU time and peak resident memory to a file:

    python tests/perf/launch.py OUT.txt COMMAND [ARGS...]

A child's peak memory as the kernel counts it (`ru_maxrss`) starts from what its parent
held when it forked, so the benchmarks do not fork their commands from their own large
process: this small one (run as a file, importing nothing of the project) forks them.
"""

import os
import sys
import time

out, *command = sys.argv[1:]
start = time.perf_counter()
pid = os.fork()
if pid == 0:
    try:
        os.execvp(command[0], command)
    finally:
        os._exit(127)
_, status, usage = os.wait4(pid, 0)
seconds = time.perf_counter() - start
with open(out, "w", encoding="ascii") as handle:
    handle.write(f"{seconds} {usage.ru_maxrss} {usage.ru_utime + usage.ru_stime}\n")
sys.exit(os.waitstatus_to_exitcode(status))
