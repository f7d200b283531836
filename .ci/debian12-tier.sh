#!/usr/bin/env bash
# CI tier: the test suite on Debian 12's own packages, no pip.
#
# The checks run with /usr/bin/python3 (3.11.2) and python3-nagiosplugin 1.3.2,
# python3-msal 1.21, python3-requests 2.28 from a source checkout, as
# "python3 -m check_entra_noninteractive GROUP" (tests/conftest.py falls back to that
# when no console script is installed). The Icinga 2 tests then run the shipped
# CheckCommands in their python3 -m form (EntraSourceDir).
#
# Usage: bash .ci/debian12-tier.sh   (as root on Debian 12, or with the packages installed)
set -euo pipefail
cd "$(dirname "$0")/.."
CHECKOUT=$(pwd)

PACKAGES="python3-nagiosplugin python3-msal python3-requests python3-pytest python3-responses python3-trustme python3-hypothesis"
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # shellcheck disable=SC2086
    apt-get install -y -qq $PACKAGES >/dev/null
fi

PY=/usr/bin/python3
# Nothing from a venv or a pip install may stand in for Debian's packages.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
export PYTHONPATH="$CHECKOUT"
export PYTHONNOUSERSITE=1
unset VIRTUAL_ENV PYTHONHOME

echo "== Debian 12 tier: $($PY --version) at $PY"
# shellcheck disable=SC2086
dpkg-query -W -f '   ${Package} ${Version}\n' $PACKAGES python3-urllib3 python3-cryptography

if command -v check_entra_signins >/dev/null; then
    echo "check_entra_signins is installed at $(command -v check_entra_signins): the tier" \
         "must run the checkout through python3 -m; remove it from /usr/bin" >&2
    exit 1
fi

# Every library comes from Debian's dist-packages, the package itself from the checkout.
$PY - "$CHECKOUT" <<'EOF'
import os, sys
checkout = sys.argv[1]
import check_entra_noninteractive, nagiosplugin, msal, requests, pytest, responses, trustme, hypothesis
for module in (nagiosplugin, msal, requests, pytest, responses, trustme, hypothesis):
    assert module.__file__.startswith("/usr/lib/python3/dist-packages/"), module.__file__
where = os.path.realpath(check_entra_noninteractive.__file__)
assert where.startswith(os.path.realpath(checkout) + os.sep), where
print("   nagiosplugin %s, msal %s, requests %s; check_entra_noninteractive from %s"
      % (getattr(nagiosplugin, "__version__", "?"), msal.__version__, requests.__version__,
         os.path.dirname(where)))
EOF

$PY -m pytest -q -p no:cacheprovider tests
