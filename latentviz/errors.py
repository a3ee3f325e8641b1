"""The one family of exceptions latentviz raises on purpose.

::

    LatentvizError                 anything latentviz reports to a user
    ├── InputError                 bad checkpoint, data, option or run folder  (CLI exit 2)
    │   ├── UnsafeCheckpointError  the checkpoint would run code; opt in with --trust-checkpoint
    │   └── MissingDependencyError an optional package is not installed; the message names the extra
    └── AuditFailed                a policy check failed                        (CLI exit 1)

Only the top level of the CLI catches these and prints ``latentviz: error: <one line>``.
"""

from __future__ import annotations


class LatentvizError(Exception):
    """Base class: the message is written for the user and fits on one line."""

    exit_code = 2


class InputError(LatentvizError):
    """Something the user gave (file, option, run folder) cannot be used as given."""


class UnsafeCheckpointError(InputError):
    """Loading this checkpoint would execute code from it without --trust-checkpoint."""


class MissingDependencyError(InputError):
    """An optional dependency is missing; the message carries the install command."""


class AuditFailed(LatentvizError):
    """At least one failing check in an audit policy."""

    exit_code = 1
