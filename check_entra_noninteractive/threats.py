"""The table kinds of the threats check: what counts each measure, and its DD table.

Each kind is filled in the one pass over the window (see ``tables`` for the protocol):
``start(index, limit, tuning)`` returns a collector whose ``count()`` is the measure's
value (entities, not rows) and whose ``tables()`` lists exactly the entities counted.
``tuning`` (``tally.Tuning``) carries --spray-users, the baseline options and the
window's ``baseline.History``.
"""

from collections import Counter
from dataclasses import dataclass

from . import timeutil
from .tables import APP, ERROR, LOCATION, USER, code_counts, table

# Entra's error codes for a wrong or locked credential: what a password spray leaves.
CREDENTIAL_ERRORS = (50034, 50053, 50055, 50056, 50057, 50126)
# The entities with a per-entity baseline (names of measures.ENTITIES).
BASELINE_ENTITIES = ("users", "ips", "apps")
# Distinct values shown in one cell; the rest are counted ("+2 more").
CELL_VALUES = 3


@dataclass(frozen=True)
class Settings:
    """The threats check's own options."""

    spray_users: int = 10        # --spray-users
    baseline_days: int = 7       # --baseline-days
    baseline_min: int = 20       # --baseline-min
    baseline_factor: float = 3.0  # --baseline-factor


def _values(found):
    """Distinct values for a cell, most frequent first."""
    order = sorted(found.items(), key=lambda item: (-item[1], item[0]))
    shown = ", ".join(value for value, _ in order[:CELL_VALUES])
    more = len(order) - CELL_VALUES
    return shown + (" +%d more" % more if more > 0 else "")


class SprayIPs:
    """IPs whose failed sign-ins with a credential error name many distinct users."""

    fields = (("ip", "ip"), ("user_id", "user_id"), ("error", ERROR),
              ("created", "created"))
    condition = "success = 0 AND error_code IN (%s)" % ", ".join(map(str, CREDENTIAL_ERRORS))

    def start(self, index, limit, tuning):
        return _Spray(index, limit, tuning.threats.spray_users)


class _Spray:
    def __init__(self, index, limit, users):
        self.at = [index[name] for name, _ in SprayIPs.fields]
        self.limit, self.users = limit, users
        self.found = {}  # ip -> [{user ids}, failures, {codes}, first, last]

    def add(self, row):
        ip, user, code, created = (row[i] for i in self.at)
        if not ip:
            return
        entry = self.found.get(ip)
        if entry is None:
            entry = self.found[ip] = [set(), 0, Counter(), created, created]
        if user:
            entry[0].add(user)
        entry[1] += 1
        entry[2][code] += 1
        entry[4] = created  # rows come oldest first

    def counted(self):
        return [(ip, e) for ip, e in self.found.items() if len(e[0]) >= self.users]

    def count(self):
        return len(self.counted())

    def tables(self):
        order = sorted(self.counted(), key=lambda item: (-len(item[1][0]), -item[1][1],
                                                         item[0]))
        rows = [[ip, len(users), failures, code_counts(codes),
                 timeutil.display_stored(first), timeutil.display_stored(last)]
                for ip, (users, failures, codes, first, last) in order]
        return table("IPs with failed sign-ins for %d or more users (password spray)"
                     % self.users, ["IP address", "distinct users", "failed sign-ins",
                                    "error codes", "first seen", "last seen"],
                     rows, len(rows), self.limit), []


class UsersSigningIn:
    """Distinct users among the sign-ins of a condition (a protocol, a legacy client)."""

    fields = (("user_id", "user_id"), ("user", USER), ("application", APP), ("ip", "ip"),
              ("location", LOCATION), ("client app", "client_app"), ("created", "created"))

    def __init__(self, title, condition):
        self.title = title
        self.condition = condition

    def start(self, index, limit, tuning):
        return _Users(self.title, [index[name] for name, _ in self.fields], limit)


class _Users:
    def __init__(self, title, at, limit):
        self.title, self.at, self.limit = title, at, limit
        # user id -> [name, sign-ins, {apps}, {ips}, {locations}, {client apps}, first, last]
        self.found = {}

    def add(self, row):
        user_id, user, app, ip, location, client, created = (row[i] for i in self.at)
        if not user_id:
            return
        entry = self.found.get(user_id)
        if entry is None:
            entry = self.found[user_id] = [user, 0, Counter(), Counter(), Counter(),
                                           Counter(), created, created]
        entry[1] += 1
        for found, value in zip(entry[2:6], (app, ip, location, client)):
            if value:
                found[value] += 1
        entry[7] = created

    def count(self):
        return len(self.found)

    def tables(self):
        order = sorted(self.found.items(), key=lambda item: (-item[1][1], item[1][0], item[0]))
        rows = [[name, number, _values(apps), _values(ips), _values(places),
                 _values(clients), timeutil.display_stored(first),
                 timeutil.display_stored(last), user_id]
                for user_id, (name, number, apps, ips, places, clients, first, last) in order]
        return table(self.title, ["user", "sign-ins", "applications", "IP addresses",
                                  "locations", "client apps", "first seen", "last seen",
                                  "user id"], rows, len(rows), self.limit), []


class Countries:
    """Users whose successful sign-ins come from two or more countries."""

    fields = (("user_id", "user_id"), ("user", USER), ("country", "country"),
              ("ip", "ip"), ("created", "created"))
    condition = "success = 1 AND country <> ''"

    def start(self, index, limit, tuning):
        return _Countries([index[name] for name, _ in self.fields], limit)


class _Countries:
    def __init__(self, at, limit):
        self.at, self.limit = at, limit
        self.found = {}  # user id -> [name, {country: [sign-ins, first, last, {ips}]}]

    def add(self, row):
        user_id, user, country, ip, created = (row[i] for i in self.at)
        if not user_id:
            return
        entry = self.found.get(user_id)
        if entry is None:
            entry = self.found[user_id] = [user, {}]
        seen = entry[1].get(country)
        if seen is None:
            seen = entry[1][country] = [0, created, created, Counter()]
        seen[0] += 1
        seen[2] = created
        if ip:
            seen[3][ip] += 1

    def counted(self):
        return [(u, e) for u, e in self.found.items() if len(e[1]) >= 2]

    def count(self):
        return len(self.counted())

    def tables(self):
        order = sorted(self.counted(), key=lambda item: (
            -len(item[1][1]), -sum(c[0] for c in item[1][1].values()), item[1][0], item[0]))
        users, hops = [], []
        for user_id, (name, countries) in order:
            # The hop in time order: where each country was first and last seen, from where.
            visits = sorted(countries.items(), key=lambda c: (c[1][1], c[0]))
            users.append([name, " \u2192 ".join(country for country, _ in visits),
                          sum(v[0] for _, v in visits),
                          timeutil.display_stored(visits[0][1][1]),
                          timeutil.display_stored(max(v[2] for _, v in visits)), user_id])
            hops += [[name, country, number, timeutil.display_stored(first),
                      timeutil.display_stored(last), _values(ips)]
                     for country, (number, first, last, ips) in visits]
        main = table("Users signing in successfully from two or more countries",
                     ["user", "countries (in time order)", "sign-ins", "first seen",
                      "last seen", "user id"], users, len(users), self.limit)
        extra = table("Their countries: when and from where",
                      ["user", "country", "sign-ins", "first seen", "last seen",
                       "IP addresses"], hops, len(hops), self.limit)
        return main, [extra]


class Unusual:
    """Entities that sign in far more often than usual for this time of day."""

    condition = "1"

    def __init__(self, entity):
        self.entity = entity  # measures.Entity: users, ips or apps
        self.fields = (("key:" + entity.name, entity.key),
                       ("display:" + entity.name, entity.display))

    def start(self, index, limit, tuning):
        return _Unusual(self.entity, index, limit, tuning)


class _Unusual:
    def __init__(self, entity, index, limit, tuning):
        self.entity, self.limit = entity, limit
        self.settings, self.history = tuning.threats, tuning.history
        self.key_at = index["key:" + entity.name]
        self.display_at = index["display:" + entity.name]
        self.found = {}  # key -> [sign-ins, display]
        self._judged = None

    def add(self, row):
        key = row[self.key_at]
        if not key:
            return
        entry = self.found.get(key)
        if entry is None:
            self.found[key] = [1, row[self.display_at]]
        else:
            entry[0] += 1

    def judged(self):
        """(unusual [(key, count, display, usual)], not judged [(key, count, display)]:
        new entities, or all while the baseline learns), judged once: only entities with
        --baseline-min sign-ins are looked up."""
        if self._judged is None:
            settings, history, name = self.settings, self.history, self.entity.name
            busy = [(key, number, display) for key, (number, display) in self.found.items()
                    if number >= settings.baseline_min]
            new, known = [], []
            for entry in busy:
                fresh = history.learning or history.is_new(name, entry[0])
                (new if fresh else known).append(entry)
            usual = history.usual(name, [key for key, _, _ in known])
            unusual = [(key, number, display, usual[key]) for key, number, display in known
                       if number > settings.baseline_factor * usual[key]]
            self._judged = unusual, new
        return self._judged

    def count(self):
        return len(self.judged()[0])

    def tables(self):
        unusual, new = self.judged()
        title, show_id = self.entity.title, self.entity.show_id
        plural = self.entity.heading[0].upper() + self.entity.heading[1:]
        rows = [[display, number, round(usual, 2),
                 "new at this hour" if not usual else "%.1f\u00d7" % (number / usual)]
                + ([key] if show_id else [])
                for key, number, display, usual in sorted(
                    unusual, key=lambda u: (-u[1], u[2], u[0]))]
        id_column = ["id"] if show_id else []
        main = table("%s with more than %s\u00d7 their usual sign-ins for this time of day"
                     % (plural, "%g" % self.settings.baseline_factor),
                     [title, "sign-ins", "usual (mean of the days compared)", "ratio"]
                     + id_column, rows, len(rows), self.limit)
        fresh = [[display, number] + ([key] if show_id else [])
                 for key, number, display in sorted(new, key=lambda n: (-n[1], n[2], n[0]))]
        why = ("not judged while the baseline is learning" if self.history.learning
               else "no history to compare, not counted")
        extra = table("New %s with %d or more sign-ins (%s)"
                      % (self.entity.heading, self.settings.baseline_min, why),
                      [title, "sign-ins"] + id_column, fresh, len(fresh), self.limit)
        return main, [extra]
