"""The state directory: where it is, and refusing what another local user could hijack.

Everything under it (stores, token caches, remembered windows, DD pages) is trusted by the
next run, so a directory or file that someone else owns, or may write, is refused with one
line naming the fix. Files are created with ``O_EXCL | O_NOFOLLOW``, never through a link.
"""

import errno
import os
import pwd
import stat
import time

from nagiosplugin import CheckError

SYSTEM_DIR = "/var/lib/check_entra_noninteractive"
APP_NAME = "check_entra_noninteractive"
PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600
NEW_FILE = os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)


def default_dir(environ=None):
    """/var/lib/check_entra_noninteractive when this user may write it (or create it),
    else $XDG_STATE_HOME (or ~/.local/state)/check_entra_noninteractive."""
    environ = os.environ if environ is None else environ
    parent = os.path.dirname(SYSTEM_DIR)
    if os.path.isdir(SYSTEM_DIR):
        if os.access(SYSTEM_DIR, os.W_OK | os.X_OK):
            return SYSTEM_DIR
    elif os.access(parent, os.W_OK | os.X_OK):
        return SYSTEM_DIR
    base = environ.get("XDG_STATE_HOME") or os.path.join(
        environ.get("HOME") or os.path.expanduser("~"), ".local", "state")
    return os.path.join(base, APP_NAME)


class Unsafe(CheckError):
    """A directory or file another local user owns, may write, or planted as a link."""


def _user(uid):
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return "uid %d" % uid


def _refuse_unsafe(path, info, what, shared_group=False):
    """CheckError if ``path`` (lstat ``info``) belongs to someone else or others may write it.

    ``shared_group``: a setgid directory may be group-writable (a DD directory shared with
    the web server's group).
    """
    me = os.geteuid()
    if stat.S_ISLNK(info.st_mode):
        raise Unsafe("%s %s is a symbolic link: remove it (state files are never "
                         "followed through links)" % (what, path))
    if info.st_uid != me:
        raise Unsafe("%s %s belongs to %s, not to %s who runs this check: chown %s %s, "
                         "or give --state-dir a directory of this user"
                         % (what, path, _user(info.st_uid), _user(me), _user(me), path))
    writable = info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
    if shared_group and info.st_mode & stat.S_ISGID:
        writable &= ~stat.S_IWGRP
    if writable:
        fix = "0700" if stat.S_ISDIR(info.st_mode) else "0600"
        raise Unsafe("%s %s is writable by %s: chmod %s %s"
                         % (what, path, "others" if info.st_mode & stat.S_IWOTH else "its group",
                            fix, path))


def ensure_dir(path, what="state directory", shared_group=False, follow=False,
               mode=PRIVATE_DIR):
    """Create ``path`` (and missing parents) with ``mode``, or check the existing one.

    ``follow``: the directory an administrator named may be a link; those below it may not.
    """
    try:
        parent = os.path.dirname(os.path.abspath(path))
        os.makedirs(parent, PRIVATE_DIR, exist_ok=True)
        os.mkdir(path, mode)
        # An inherited setgid bit stays: the DD files then keep the group given to the tree.
        os.chmod(path, mode | (os.stat(path).st_mode & stat.S_ISGID))
    except FileExistsError:
        pass
    except OSError as exc:
        raise CheckError(storage_problem(path, exc, what))
    info = os.stat(path) if follow else os.lstat(path)
    if not stat.S_ISDIR(info.st_mode) and not stat.S_ISLNK(info.st_mode):
        raise CheckError("%s %s is not a directory" % (what, path))
    _refuse_unsafe(path, info, what, shared_group)
    return path


def check_file(path, what="state file"):
    """Refuse an existing ``path`` that could have been planted; a missing one is fine."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return False
    _refuse_unsafe(path, info, what)
    return True


def create_private(path, what="state file"):
    """Make sure ``path`` exists as a 0600 file of this user (created without following a
    link), so SQLite never creates it with the umask's mode."""
    if check_file(path, what):
        return
    try:
        os.close(os.open(path, os.O_RDWR | NEW_FILE, PRIVATE_FILE))
    except FileExistsError:
        check_file(path, what)  # another check created it at the same moment
    except OSError as exc:
        raise CheckError(storage_problem(path, exc, what))


def write_new(path, data, mode=PRIVATE_FILE):
    """Write ``data`` (bytes) to a new temporary file beside ``path`` and return its name:
    O_EXCL | O_NOFOLLOW, so a planted file or link is never written through."""
    temporary = "%s.tmp-%d" % (path, os.getpid())
    try:
        os.unlink(temporary)  # left behind by a crashed run with the same pid
    except FileNotFoundError:
        pass
    fd = os.open(temporary, os.O_WRONLY | NEW_FILE, mode)
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), mode)  # the umask may have narrowed it
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        discard(temporary)
        raise
    return temporary


def discard(path):
    try:
        os.unlink(path)
    except OSError:
        pass


def replace_file(path, data, mode=PRIVATE_FILE):
    """Replace ``path`` atomically with ``data``: readers see the old or the new file."""
    temporary = write_new(path, data, mode)
    try:
        os.replace(temporary, path)
    except BaseException:
        discard(temporary)
        raise


def set_aside(path, what, suffixes=("",)):
    """Move a damaged cache file (and its companions ``path + suffix``) to
    ``path.corrupt-<time>`` for a person to look at; return that name."""
    aside = "%s.corrupt-%s" % (path, time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()))
    for suffix in suffixes:
        try:
            os.replace(path + suffix, aside + suffix)
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise CheckError(storage_problem(path, exc, what))
    return aside


def storage_problem(path, exc, what="state file"):
    """One line for an OSError (or SQLite's error text) met while writing state."""
    code = getattr(exc, "errno", None)
    text = str(getattr(exc, "strerror", None) or exc)
    lowered = text.lower()
    if code in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG) or "full" in lowered:
        return ("cannot write the %s %s: the disk is full (%s): free space on its "
                "filesystem" % (what, path, text))
    if code == errno.EIO or "disk i/o error" in lowered:
        # SQLite says "disk I/O error" when a write fails with EFBIG (a file size limit).
        limit = _file_size_limit()
        if limit is not None:
            return ("cannot write the %s %s: the disk is full for this process (%s; ulimit -f "
                    "lets it write files up to %d bytes): raise the limit or free space"
                    % (what, path, text, limit))
    denied = code in (errno.EACCES, errno.EPERM) or "unable to open" in lowered
    if code == errno.EROFS or "readonly" in lowered or "read-only" in lowered or \
            (denied and _on_read_only_mount(path)):
        return ("cannot write the %s %s: read-only (%s): give --state-dir a writable "
                "directory" % (what, path, text))
    if denied or "permission" in lowered:
        return ("cannot write the %s %s (%s): run the check as the directory's owner, or "
                "give --state-dir a directory this user may write" % (what, path, text))
    return "cannot write the %s %s: %s" % (what, path, text)


def _on_read_only_mount(path):
    """True when ``path`` (or, if it is missing, its nearest parent) is on a file system
    mounted read-only: SQLite then only says "unable to open database file"."""
    probe = os.path.abspath(path)
    while True:
        try:
            return bool(os.statvfs(probe).f_flag & os.ST_RDONLY)
        except OSError:
            parent = os.path.dirname(probe)
            if parent == probe:
                return False
            probe = parent


def _file_size_limit():
    """The file size limit (RLIMIT_FSIZE, ``ulimit -f``) in bytes, or None if unlimited."""
    try:
        import resource

        soft = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
    except (ImportError, OSError, ValueError):
        return None
    return None if soft == resource.RLIM_INFINITY else soft
