"""``python -m check_entra_noninteractive GROUP [options]`` runs one check group."""

from .cli import run_group

if __name__ == "__main__":
    run_group()
