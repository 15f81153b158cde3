"""User-facing errors: each says in one line what is wrong and how to fix it.

Every interface (CLI, widgets, dashboard) catches `WorkbenchError` and shows its message
instead of a traceback; anything else is a bug and keeps its traceback.
"""


class WorkbenchError(Exception):
    """A mistake the user can fix; the message names the problem and the fix."""


class ConfigError(WorkbenchError):
    """A hyperparameter or option is out of range or unknown."""


class DataError(WorkbenchError):
    """A dataset cannot be found, read or split as asked."""


class WeightsError(WorkbenchError):
    """Pre-trained weights are missing offline, corrupt, or do not fit the model."""


class RunStoreError(WorkbenchError):
    """The run folder cannot be written or a record cannot be read."""


class ResourceError(WorkbenchError):
    """The machine ran out of something (GPU memory); the message says what to shrink."""
