"""User-facing errors.

Every mistake a user can make (a bad option, a missing file, a corrupted
shard, a malformed submission) raises a subclass of :class:`ScenebenchError`
with a one-line message naming what was wrong and what was expected. The CLI
prints it as ``error: <message>`` and exits non-zero, without a traceback.
"""


class ScenebenchError(Exception):
    """Base class: a problem with the user's input or files, not a bug."""

    exit_code = 2


class ConfigError(ScenebenchError):
    """Unknown family/preset/split, unknown config key, bad value or range."""


class AssetError(ConfigError):
    """A file the run needs from outside scenebench (licensed models, pretrained weights) is absent.

    ``scenebench reproduce`` skips the column that needs it, with this message, and runs the others."""


class DatasetError(ScenebenchError):
    """An output/input dataset directory that cannot be used as asked."""


class CorruptShardError(DatasetError, OSError):
    """A shard whose bytes do not decode (a checksum mismatch, a cut-short chunk): named, never silently wrong."""


class VerifyError(ScenebenchError):
    """Shards that do not match their manifest."""

    exit_code = 1
