"""Where sign-ins come from: an exported file, Microsoft Graph, or Log Analytics.

Each source yields lists (pages) of normalized rows (see ``normalize.COLUMNS``) and raises
``nagiosplugin.CheckError`` with one actionable line when it cannot deliver all of them.
"""
