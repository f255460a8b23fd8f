"""Another day for a Python daemon of the local stack (the emulator, the gateway).

tests/local/calendar.sh moves the stack's clock by FB_CLOCK_OFFSET seconds. libfaketime
cannot do it for Python: under it, either time.sleep fails with EINVAL or a wait with a
timeout never returns (its monotonic clock handling). So Python's wall clock is shifted
here, at interpreter start, and monotonic time is left alone. The processes such a
daemon starts (the emulator runs the functions' binaries) get libfaketime, which serves
Rust well, through the environment they inherit.

Imported by Python only when this folder is on PYTHONPATH (lib.sh's fb_clock_env_python).
"""

import datetime as _dt
import os
import time as _time

_OFFSET = float(os.environ.get("FB_CLOCK_OFFSET", "0") or 0)

if _OFFSET:
    _real_time, _real_time_ns = _time.time, _time.time_ns
    _real_gmtime, _real_localtime = _time.gmtime, _time.localtime
    _real_ctime, _real_strftime = _time.ctime, _time.strftime

    def _now():
        return _real_time() + _OFFSET

    _time.time = _now
    _time.time_ns = lambda: _real_time_ns() + int(_OFFSET * 1_000_000_000)
    _time.gmtime = lambda secs=None: _real_gmtime(_now() if secs is None else secs)
    _time.localtime = lambda secs=None: _real_localtime(_now() if secs is None else secs)
    _time.ctime = lambda secs=None: _real_ctime(_now() if secs is None else secs)
    _time.strftime = lambda fmt, t=None: _real_strftime(fmt, _time.localtime() if t is None else t)

    class _DateTime(_dt.datetime):
        @classmethod
        def now(cls, tz=None):
            return cls.fromtimestamp(_now(), tz)

        @classmethod
        def utcnow(cls):
            return cls.utcfromtimestamp(_now())

        @classmethod
        def today(cls):
            return cls.fromtimestamp(_now())

    class _Date(_dt.date):
        @classmethod
        def today(cls):
            return cls.fromtimestamp(_now())

    _dt.datetime = _DateTime
    _dt.date = _Date

    # The binaries this daemon starts: libfaketime, on the same offset.
    os.environ.pop("PYTHONPATH", None)
    os.environ.update(
        LD_PRELOAD="/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1",
        FAKETIME=f"{int(_OFFSET):+d}s",
        DONT_FAKE_MONOTONIC="1",
    )
