"""The last live window each check reported, remembered in the state directory.

One small JSON file per check and option set, so two services of one tenant with
different options never share it. It holds no secret: the key is a hash.
"""

import hashlib
import json
import os

from . import statedir, timeutil


def key(parts):
    """A stable name for a check and its option set (``parts``: JSON-able values)."""
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


class LastWindow:
    def __init__(self, directory, check, option_key):
        self.directory = directory
        self.path = os.path.join(directory, "%s-%s.json" % (check, option_key))

    def read(self):
        """(start, end) datetimes, or None when there is none or it is unusable.

        The directory is checked here, before the run, not only when the window is
        remembered: a planted one is refused as an UNKNOWN line before anything is done."""
        statedir.ensure_dir(self.directory, "state directory")
        if not statedir.check_file(self.path, "remembered window"):
            return None
        try:
            with open(self.path, "rb") as handle:
                data = json.loads(handle.read(4096).decode("utf-8"))
            start = timeutil.parse_time(data["start"])
            end = timeutil.parse_time(data["end"])
        except (OSError, ValueError, KeyError, TypeError, OverflowError):
            return None  # a damaged memory costs one --window-long report, nothing more
        return (start, end) if start < end else None

    def remember(self, window):
        statedir.ensure_dir(self.directory, "state directory")
        data = json.dumps({"start": timeutil.display(window.start),
                           "end": timeutil.display(window.end)})
        statedir.replace_file(self.path, data.encode("utf-8"))
