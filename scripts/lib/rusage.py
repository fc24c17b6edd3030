"""Run a command and write what it cost once it exits.

    python3 rusage.py OUT -- COMMAND [ARGS...]

SIGINT and SIGTERM sent to this process are passed on to the command. When
the command exits, OUT gets one line: user CPU seconds, system CPU seconds
(every thread's, those that ended too, to the microsecond: /proc/PID/stat
counts in 10 ms ticks), peak RSS in KiB. The exit status is the command's.
"""

import os
import signal
import subprocess
import sys


def main() -> int:
    if len(sys.argv) < 4 or sys.argv[2] != "--":
        print(__doc__.strip(), file=sys.stderr)
        return 2
    out = sys.argv[1]
    child = subprocess.Popen(sys.argv[3:])
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda s, _f: child.send_signal(s))
    while True:
        try:
            _, status, usage = os.wait4(child.pid, 0)
            break
        except InterruptedError:
            continue
    with open(out, "w") as f:
        f.write(f"{usage.ru_utime:.6f} {usage.ru_stime:.6f} {usage.ru_maxrss}\n")
    return os.waitstatus_to_exitcode(status)


if __name__ == "__main__":
    sys.exit(main())
