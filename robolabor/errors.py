"""The one base class of expected errors: bad input a user can fix.

The command line prints an expected error as one line (``robolabor: error: ...``,
naming the file, the dotted key and the reason) and exits 1; any other exception
is a bug and keeps its traceback, so a numpy or torch failure is never dressed up
as a user's mistake. Disk-level failures a user can fix (a full disk, a read-only
target, a path that is a file) are recognised by their errno (``disk_error``).
"""

from __future__ import annotations

import errno

DISK_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM,
                         errno.ENOTDIR, errno.EISDIR, errno.EEXIST, errno.ENAMETOOLONG})


class UserError(Exception):
    """Bad input or a bad state on disk, described in one line that names what is wrong."""


def disk_error(exc: BaseException) -> bool:
    """Whether ``exc`` is a filesystem refusal the user can fix (full, read-only, ...)."""
    return isinstance(exc, OSError) and exc.errno in DISK_ERRNOS


def describe_os_error(exc: OSError) -> str:
    """``PATH: reason`` for an OSError (the path it names, or the bare reason)."""
    reason = exc.strerror or str(exc)
    return f"{exc.filename}: {reason}" if exc.filename else reason
