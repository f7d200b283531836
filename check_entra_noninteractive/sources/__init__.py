"""Where sign-ins come from: Microsoft Graph, Log Analytics workspaces, or an exported file.

Each source is a plug-in module with:

- ``NAME`` and ``DEFAULT_DELAY`` (the ``--delay`` its data needs; None: no delay);
- ``add_options(parser)``: its own option group (every check accepts every source's
  options, whatever the source);
- ``check_args(args)``: its defaults and combinations, raising ``options.UsageError``;
- ``collect(args, run)``: a ``collector.Collection`` holding the complete window, or
  ``nagiosplugin.CheckError`` with one line a person can act on.

A new source is a module and one line in ``SOURCES``.
"""

from .. import options
from . import entra, file, graph, loganalytics

# --source NAME; the file source is chosen by --input instead.
SOURCES = {graph.NAME: graph, loganalytics.NAME: loganalytics}
DEFAULT = graph.NAME


def add_options(parser):
    group = parser.add_argument_group("source")
    group.add_argument("--source", choices=sorted(SOURCES),
                       help="where the sign-ins come from (default %s; --input PATH reads "
                            "a file instead)" % DEFAULT)
    entra.add_options(parser)  # the tenant and credentials the online sources share
    for module in (*SOURCES.values(), file):
        module.add_options(parser)


def chosen(args):
    """The source module the options ask for."""
    if args.input:
        if args.source:
            raise options.UsageError("--input reads a file: leave out --source %s"
                                     % args.source)
        return file
    return SOURCES[args.source or DEFAULT]


# Options that change nothing a check reports: they do not key its remembered window.
NOT_IN_WINDOW_KEY = entra.NOT_IN_WINDOW_KEY
