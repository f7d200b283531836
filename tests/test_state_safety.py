"""Safe state (issue 8, section 5): a state directory, tenant directory or state file that
another local user owns or may write is refused with one UNKNOWN line naming the path and
the fix; the default state directory is never a world-writable tree; temporary files are
never written through a planted link.

The tests run the real main() in-process (the ``run`` fixture) against the local fake of
Microsoft Graph, for the sample's past hour: the file source (--input) does not use the
state directory. They run as root, so "another user" is uid 65534 given with os.chown.
"""

import atexit
import json
import os
import shutil
import stat
import tempfile
from pathlib import Path

import pytest

from check_entra_noninteractive import cli, statedir
from conftest import SAMPLE
# fake and sample_records are fixtures.
from test_graph import (CLIENT, SECRET, TENANT, fake, graph_args,  # noqa: F401
                        sample_records, use_fake)
from fake_microsoft import FakeMicrosoft

WINDOW = ("--start", "2026-11-20T08:00:00Z", "--end", "2026-11-20T09:00:00Z")
PREFIX = "ENTRA SIGNINS UNKNOWN - "
OTHER = 65534  # nobody
OTHER_NAME = "nobody"
TOKEN_CACHE = "token-cache-%s.json" % CLIENT


@pytest.fixture
def graph(fake, monkeypatch):
    """The environment of an in-process Graph run against the fake."""
    use_fake(monkeypatch, fake)
    return fake


_MADE = []


def _remove_made():
    for path in _MADE:
        shutil.rmtree(path, ignore_errors=True)


atexit.register(_remove_made)


@pytest.fixture
def state():
    """A private state directory with a short path (the messages name it twice). It stays
    until the session ends, so that the suite's secret scan sees what the runs left."""
    path = Path(tempfile.mkdtemp(prefix="es-"))
    _MADE.append(str(path))
    yield path
    for directory, _, _ in os.walk(path):
        os.chmod(directory, 0o700)


@pytest.fixture
def reference(run):
    """The sample hour's status line from the file: what every good Graph run prints."""
    result = run("signins", "--input", SAMPLE, *WINDOW)
    assert result.code == 0, result.out
    return result.first


def signins(run, fake, state_dir, *extra):
    return run("signins", *graph_args(fake, str(state_dir), *WINDOW, *extra))


def _tenant(state_dir):
    tenant = state_dir / TENANT
    tenant.mkdir(mode=0o700)
    return tenant


def _store_file(state_dir):
    path = _tenant(state_dir) / "graph.sqlite"
    path.touch()
    os.chmod(path, 0o600)
    return path


# Each case prepares the state directory and returns (path named, the message after
# PREFIX with {p} for that path). The run must be UNKNOWN with exactly that line.
def tenant_dir_0777(state_dir):
    tenant = _tenant(state_dir)
    os.chmod(tenant, 0o777)
    return tenant, "tenant directory {p} is writable by others: chmod 0700 {p}"


def tenant_dir_group_writable(state_dir):
    tenant = _tenant(state_dir)
    os.chmod(tenant, 0o770)
    return tenant, "tenant directory {p} is writable by its group: chmod 0700 {p}"


def tenant_dir_of_other_user(state_dir):
    tenant = _tenant(state_dir)
    os.chown(tenant, OTHER, OTHER)
    return tenant, ("tenant directory {p} belongs to %s, not to root who runs this check: "
                    "chown root {p}, or give --state-dir a directory of this user"
                    % OTHER_NAME)


def tenant_dir_symlink(state_dir):
    elsewhere = state_dir / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    tenant = state_dir / TENANT
    tenant.symlink_to(elsewhere)
    return tenant, ("tenant directory {p} is a symbolic link: remove it (state files are "
                    "never followed through links)")


def store_0666(state_dir):
    path = _store_file(state_dir)
    os.chmod(path, 0o666)
    return path, "store {p} is writable by others: chmod 0600 {p}"


def store_of_other_user(state_dir):
    path = _store_file(state_dir)
    os.chown(path, OTHER, OTHER)
    return path, ("store {p} belongs to %s, not to root who runs this check: chown root {p}, "
                  "or give --state-dir a directory of this user" % OTHER_NAME)


def store_symlink(state_dir):
    target = state_dir / "target"
    target.write_bytes(b"not the store")
    path = _tenant(state_dir) / "graph.sqlite"
    path.symlink_to(target)
    return path, ("store {p} is a symbolic link: remove it (state files are never followed "
                  "through links)")


def store_wal_0666(state_dir):
    path = _store_file(state_dir)
    wal = Path(str(path) + "-wal")
    wal.touch()
    os.chmod(wal, 0o666)
    return wal, "store file {p} is writable by others: chmod 0600 {p}"


def state_dir_of_other_user(state_dir):
    os.chown(state_dir, OTHER, OTHER)
    return state_dir, ("state directory {p} belongs to %s, not to root who runs this check: "
                       "chown root {p}, or give --state-dir a directory of this user"
                       % OTHER_NAME)


def state_dir_0777(state_dir):
    os.chmod(state_dir, 0o777)
    return state_dir, "state directory {p} is writable by others: chmod 0700 {p}"


def token_cache_group_writable(state_dir):
    path = _tenant(state_dir) / TOKEN_CACHE
    path.write_text("{}")
    os.chmod(path, 0o660)
    return path, "token cache {p} is writable by its group: chmod 0600 {p}"


def token_cache_of_other_user(state_dir):
    path = _tenant(state_dir) / TOKEN_CACHE
    path.write_text("{}")
    os.chmod(path, 0o600)
    os.chown(path, OTHER, OTHER)
    return path, ("token cache {p} belongs to %s, not to root who runs this check: "
                  "chown root {p}, or give --state-dir a directory of this user" % OTHER_NAME)


def lock_file_symlink(state_dir):
    victim = state_dir / "victim"
    victim.write_text("precious\n")
    path = _tenant(state_dir) / "fetch.lock"
    path.symlink_to(victim)
    return path, ("lock file {p} is a symbolic link: remove it (state files are never "
                  "followed through links)")


def lock_file_dangling_symlink(state_dir):
    path = _tenant(state_dir) / "fetch.lock"
    path.symlink_to(state_dir / "victim")  # would be created by O_CREAT through the link
    return path, ("lock file {p} is a symbolic link: remove it (state files are never "
                  "followed through links)")


REFUSED = [lock_file_symlink, lock_file_dangling_symlink, tenant_dir_0777,
           tenant_dir_group_writable, tenant_dir_of_other_user, tenant_dir_symlink, store_0666, store_of_other_user, store_symlink, store_wal_0666,
           state_dir_of_other_user, state_dir_0777, token_cache_group_writable,
           token_cache_of_other_user]


@pytest.mark.parametrize("prepare", REFUSED, ids=[f.__name__ for f in REFUSED])
def test_unsafe_state_is_refused_with_the_fix(run, graph, state, prepare):
    path, message = prepare(state)
    before = {p: (os.lstat(p).st_mode, os.lstat(p).st_uid) for p in _tree(state)}
    result = signins(run, graph, state)
    assert result.code == 3, result.out
    assert result.out.splitlines() == [PREFIX + message.format(p=path)]
    # Nothing was trusted: no sign-in was fetched, nothing that was there was changed.
    assert graph.graph_requests() == []
    after = {p: (os.lstat(p).st_mode, os.lstat(p).st_uid) for p in _tree(state)}
    assert {p: after.get(p) for p in before} == before
    victim = state / "victim"
    assert not victim.exists() or victim.read_text() == "precious\n"


def _tree(root):
    found = [str(root)]
    for directory, subdirs, names in os.walk(root):
        found += [os.path.join(directory, n) for n in subdirs + names]
    return sorted(found)


# ---------------------------------------------------------------------------------------
# The detailed diagnosis directory: shared with the web server's group through a setgid
# directory, but never writable by others.
# ---------------------------------------------------------------------------------------

def _dd_dir(state_dir, mode):
    dd = state_dir / "dd"
    dd.mkdir()
    os.chmod(dd, mode)
    return dd


DD_REFUSED = [
    (0o777, "DD directory {p} is writable by others: chmod 0700 {p}"),
    (0o2777, "DD directory {p} is writable by others: chmod 0700 {p}"),
    (0o770, "DD directory {p} is writable by its group: chmod 0700 {p}"),
]


@pytest.mark.parametrize("mode, message", DD_REFUSED, ids=["0777", "2777", "0770"])
def test_dd_directory_writable_by_others_is_refused(run, graph, state, mode, message):
    dd = _dd_dir(state, mode)
    result = signins(run, graph, state, "--dd-dir", dd)
    # Issue 8, section 5: refused "with UNKNOWN naming the path and the fix".
    assert (result.code, result.out.splitlines()) == (3, [PREFIX + message.format(p=dd)])
    assert os.listdir(dd) == []


def test_setgid_group_dd_directory_is_accepted(run, graph, state, reference):
    dd = _dd_dir(state, 0o2770)
    result = signins(run, graph, state, "--dd-dir", dd)
    assert result.code == 0, result.out
    assert result.first == reference
    assert "detailed diagnosis not written" not in result.out
    tenant = dd / TENANT
    # The tenant's directory keeps the group through the setgid bit; others get nothing.
    assert stat.S_IMODE(tenant.stat().st_mode) == 0o2750
    for name in ("check_entra_signins.json", "check_entra_signins.html"):
        assert stat.S_IMODE((tenant / name).stat().st_mode) == 0o640
    assert json.loads((tenant / "check_entra_signins.json").read_text())["tenant"] == TENANT
    assert stat.S_IMODE(dd.stat().st_mode) == 0o2770  # left as the administrator made it


# ---------------------------------------------------------------------------------------
# The fix is named whole, for the paths of a real installation: /var/lib/... with a GUID
# tenant and a GUID client make the longest of them.
# ---------------------------------------------------------------------------------------

GUID_TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"


def test_fix_is_never_cut_for_a_real_installation_path(run, state, monkeypatch,
                                                       sample_records):
    system_like = state / ("x" * (len(statedir.SYSTEM_DIR) - len(str(state)) - 1))
    assert len(str(system_like)) == len(statedir.SYSTEM_DIR)
    system_like.mkdir(mode=0o700)
    tenant = system_like / GUID_TENANT
    tenant.mkdir(mode=0o700)
    cache = tenant / TOKEN_CACHE
    cache.write_text("{}")
    os.chmod(cache, 0o600)
    os.chown(cache, OTHER, OTHER)
    with FakeMicrosoft(records=sample_records, tenant=GUID_TENANT, client_id=CLIENT,
                       client_secret=SECRET) as fake:
        use_fake(monkeypatch, fake)
        result = run("signins", *graph_args(fake, str(system_like), *WINDOW,
                                            tenant=GUID_TENANT))
    assert result.code == 3, result.out
    assert result.out.splitlines() == [
        PREFIX + "token cache {p} belongs to {o}, not to root who runs this check: chown root "
        "{p}, or give --state-dir a directory of this user".format(p=cache, o=OTHER_NAME)]


# ---------------------------------------------------------------------------------------
# The default state directory
# ---------------------------------------------------------------------------------------

def _immutable(path):
    """chattr +i: not writable even for root (os.access says so too); False if the file
    system cannot do it."""
    import subprocess

    done = subprocess.run(["chattr", "+i", str(path)], capture_output=True) \
        if shutil.which("chattr") else None
    return bool(done) and done.returncode == 0


def _mutable(path):
    import subprocess

    subprocess.run(["chattr", "-i", str(path)], capture_output=True)


@pytest.fixture
def system_dir(tmp_path, monkeypatch):
    """statedir.SYSTEM_DIR moved under tmp_path: tmp_path/var/lib/check_entra_noninteractive."""
    lib = tmp_path / "var" / "lib"
    lib.mkdir(parents=True)
    path = lib / statedir.APP_NAME
    monkeypatch.setattr(statedir, "SYSTEM_DIR", str(path))
    made = []
    yield path, made
    for item in made:
        _mutable(item)


ENVIRONS = [
    ({"XDG_STATE_HOME": "/srv/xdg", "HOME": "/home/nagios"}, "/srv/xdg/" + statedir.APP_NAME),
    ({"XDG_STATE_HOME": "", "HOME": "/home/nagios"},
     "/home/nagios/.local/state/" + statedir.APP_NAME),
    ({"HOME": "/home/nagios"}, "/home/nagios/.local/state/" + statedir.APP_NAME),
]


@pytest.mark.parametrize("environ, expected", ENVIRONS, ids=["xdg", "empty-xdg", "home"])
@pytest.mark.parametrize("how", ["var-lib-immutable", "system-dir-immutable",
                                 "var-lib-is-a-file"])
def test_default_is_the_users_state_dir_when_var_lib_is_not_writable(system_dir, environ,
                                                                     expected, how):
    path, made = system_dir
    lib = path.parent
    if how == "var-lib-is-a-file":
        # /var/lib is a regular file: the system directory can never exist.
        lib.rmdir()
        lib.write_text("")
    else:
        target = lib
        if how == "system-dir-immutable":
            path.mkdir(mode=0o755)
            target = path
        if not _immutable(target):
            pytest.skip("chattr +i does not work here: root may write every directory")
        made.append(target)
        assert not os.access(str(target), os.W_OK)
    assert statedir.default_dir(environ) == expected


def test_default_is_var_lib_when_this_user_may_write_it(system_dir):
    path, _ = system_dir
    environ = {"XDG_STATE_HOME": "/srv/xdg", "HOME": "/home/nagios"}
    # Not there yet, but /var/lib is writable: the check makes it (0700) on its first run.
    assert statedir.default_dir(environ) == str(path)
    path.mkdir(mode=0o700)
    assert statedir.default_dir(environ) == str(path)


def test_default_state_dir_in_a_world_writable_xdg_home_is_private(run, graph, system_dir,
                                                                   state, monkeypatch,
                                                                   reference):
    """XDG_STATE_HOME may be a sticky world-writable directory like /tmp: the check's own
    directory in it is made 0700, and one planted there by another user is refused."""
    path, made = system_dir
    path.parent.rmdir()
    path.parent.write_text("")  # no /var/lib: the user's state directory is the default
    xdg = state / "xdg"  # a short path: the message names it twice
    xdg.mkdir()
    os.chmod(xdg, 0o1777)
    monkeypatch.setenv("XDG_STATE_HOME", str(xdg))
    monkeypatch.setattr(cli, "DEFAULT_STATE_DIR", None)
    argv = [a for a in graph_args(graph, "unused", *WINDOW)]
    at = argv.index("--state-dir")
    del argv[at:at + 2]
    result = run("signins", *argv)
    assert result.code == 0, result.out
    assert result.first == reference
    home = xdg / statedir.APP_NAME
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    assert stat.S_IMODE((home / TENANT).stat().st_mode) == 0o700
    assert stat.S_IMODE((home / TENANT / "graph.sqlite").stat().st_mode) == 0o600
    # Planted by someone else before the check ever ran:
    shutil.rmtree(home)
    home.mkdir(mode=0o755)
    os.chown(home, OTHER, OTHER)
    planted = run("signins", *argv)
    assert planted.code == 3
    assert planted.out.splitlines() == [
        PREFIX + "state directory {p} belongs to {o}, not to root who runs this check: chown "
        "root {p}, or give --state-dir a directory of this user".format(p=home, o=OTHER_NAME)]
    assert os.listdir(home) == []


def test_default_is_never_a_world_writable_tree(system_dir):
    """Whatever the environment says, the default is /var/lib/... or below a home-like
    directory: never /tmp or /var/tmp as on main."""
    path, _ = system_dir
    path.parent.rmdir()
    path.parent.write_text("")
    for environ in ({}, {"HOME": "/root"}, {"XDG_STATE_HOME": "/root/.local/state"}):
        found = statedir.default_dir(environ)
        assert not found.startswith(("/tmp/", "/var/tmp/")), found
        assert found.endswith("/" + statedir.APP_NAME)


# ---------------------------------------------------------------------------------------
# Temporary files: O_EXCL | O_NOFOLLOW, a planted link is never written through
# ---------------------------------------------------------------------------------------

PLANTS = {
    "token-cache": lambda state_dir, pid: state_dir / TENANT / ("%s.tmp-%d" % (TOKEN_CACHE,
                                                                               pid)),
    "dd-json": lambda state_dir, pid: state_dir / "dd" / TENANT / (
        "check_entra_signins.json.tmp-%d" % pid),
    "dd-html": lambda state_dir, pid: state_dir / "dd" / TENANT / (
        "check_entra_signins.html.tmp-%d" % pid),
}


@pytest.mark.parametrize("target_exists", [True, False], ids=["to-a-file", "dangling"])
@pytest.mark.parametrize("where", sorted(PLANTS))
def test_planted_link_at_a_temporary_name_is_not_followed(run, graph, state, reference, where,
                                                          target_exists):
    for directory in (state / TENANT, state / "dd", state / "dd" / TENANT):
        directory.mkdir(mode=0o700)
    victim = state / "victim"
    if target_exists:
        victim.write_text("precious\n")
        os.chmod(victim, 0o644)
    link = PLANTS[where](state, os.getpid())  # the run is in this process
    link.symlink_to(victim)
    result = signins(run, graph, state)
    assert result.code == 0, result.out
    assert result.first == reference
    if target_exists:
        assert victim.read_text() == "precious\n"
        assert stat.S_IMODE(victim.stat().st_mode) == 0o644
    else:
        assert not victim.exists() and not victim.is_symlink()
    cache = state / TENANT / TOKEN_CACHE
    assert cache.is_file() and not cache.is_symlink()
    assert stat.S_IMODE(cache.stat().st_mode) == 0o600
    assert "access_token" in cache.read_text().lower() or "AccessToken" in cache.read_text()


# ---------------------------------------------------------------------------------------
# The remembered windows of live runs (state_dir/tenant/windows) take the same rules
# ---------------------------------------------------------------------------------------

def _windows(state_dir):
    windows = _tenant(state_dir) / "windows"
    windows.mkdir(mode=0o700)
    return windows


def windows_dir_0777(state_dir):
    windows = _windows(state_dir)
    os.chmod(windows, 0o777)
    return windows, "state directory {p} is writable by others: chmod 0700 {p}"


def windows_dir_of_other_user(state_dir):
    windows = _windows(state_dir)
    os.chown(windows, OTHER, OTHER)
    return windows, ("state directory {p} belongs to %s, not to root who runs this check: "
                     "chown root {p}, or give --state-dir a directory of this user"
                     % OTHER_NAME)


def _window_file(run, fake, state_dir):
    """The file a first live run leaves: the check's remembered window."""
    first = run("signins", *graph_args(fake, str(state_dir)))
    assert first.code == 0, first.out
    (path,) = (state_dir / TENANT / "windows").iterdir()
    return path


LIVE_REFUSED = [windows_dir_0777, windows_dir_of_other_user]


@pytest.mark.parametrize("prepare", LIVE_REFUSED, ids=[f.__name__ for f in LIVE_REFUSED])
def test_unsafe_remembered_windows_directory_is_refused(run, graph, state, prepare):
    path, message = prepare(state)
    result = run("signins", *graph_args(graph, str(state)))
    assert (result.code, result.out.splitlines()) == (3, [PREFIX + message.format(p=path)])
    assert os.listdir(path) == []


@pytest.mark.parametrize("how", ["symlink", "other user", "group-writable"])
def test_unsafe_remembered_window_file_is_refused(run, graph, state, how):
    path = _window_file(run, graph, state)
    victim = state / "victim"
    victim.write_text('{"start": "2026-11-25T00:00:00Z", "end": "2026-11-25T00:05:00Z"}')
    if how == "symlink":
        path.unlink()
        path.symlink_to(victim)
        message = ("remembered window {p} is a symbolic link: remove it (state files are never "
                   "followed through links)")
    elif how == "other user":
        os.chown(path, OTHER, OTHER)
        message = ("remembered window {p} belongs to %s, not to root who runs this check: "
                   "chown root {p}, or give --state-dir a directory of this user" % OTHER_NAME)
    else:
        os.chmod(path, 0o620)
        message = "remembered window {p} is writable by its group: chmod 0600 {p}"
    result = run("signins", *graph_args(graph, str(state)))
    assert (result.code, result.out.splitlines()) == (3, [PREFIX + message.format(p=path)])
    assert victim.read_text().startswith('{"start": "2026-11-25T00:00:00Z"')


def test_state_made_by_root_then_used_by_the_monitoring_user(run, graph, state, monkeypatch):
    """The issue's case: root ran the check by hand first, then Icinga runs it as nagios.
    Old code: 'internal error: PermissionError ...'. Now one line with the chown. (The suite
    runs as root: the monitoring user is simulated by the effective uid the check sees.)"""
    assert signins(run, graph, state).code == 0  # as root: the state is root's
    monkeypatch.setattr(statedir.os, "geteuid", lambda: OTHER)
    result = signins(run, graph, state)
    assert (result.code, result.out.splitlines()) == (3, [
        PREFIX + "state directory {p} belongs to root, not to {o} who runs this check: chown "
        "{o} {p}, or give --state-dir a directory of this user".format(p=state, o=OTHER_NAME)])
