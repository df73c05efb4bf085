"""The `retrain` command line (SPEC 5.1): Typer commands over the use cases, Rich tables, stable exit codes."""

from __future__ import annotations

import sqlite3
import sys

import eventsourcing.persistence
import sqlalchemy.exc
import typer
from eventsourcing.persistence import IntegrityError

from adapters.cli import audit, campaigns, models, operations, rollouts, serving  # noqa: F401  (they register commands)
from adapters.cli.common import EXIT_INVALID, EXIT_NOT_FOUND, EXIT_REFUSED, app
from application.ports import BlobStoreUnavailable, StoreUnavailable
from application.settings import SettingsError
from domain.errors import DomainError, InvalidInput, NotFound


def main() -> None:
    """Run the CLI; domain refusals, bad input and unknown ids become one sentence and an exit code."""
    debug = "--debug" in sys.argv
    try:
        code = app(standalone_mode=False)  # click returns a command's typer.Exit code instead of raising it here
        if isinstance(code, int) and code != 0:
            raise SystemExit(code)
    except typer.Exit as done:
        raise SystemExit(done.exit_code) from None
    except DomainError as error:
        _fail(error, EXIT_REFUSED, debug)
    except (InvalidInput, SettingsError) as error:
        _fail(error, EXIT_INVALID, debug)
    except NotFound as error:
        _fail(error, EXIT_NOT_FOUND, debug)
    except (sqlite3.OperationalError, sqlalchemy.exc.OperationalError, eventsourcing.persistence.OperationalError,
            eventsourcing.persistence.InterfaceError) as error:
        if "locked" in str(error) or "busy" in str(error):
            _fail(RuntimeError("the store is busy: another retrain process is writing to it; try again when it is "
                               "done"), EXIT_REFUSED, debug)
        _fail(error, EXIT_REFUSED, debug, prefix="store error: ")
    except (BlobStoreUnavailable, StoreUnavailable) as error:
        _fail(error, EXIT_REFUSED, debug)
    except IntegrityError:  # what retrying could not resolve: other processes kept writing the same records
        _fail(RuntimeError("other processes kept changing the same records at the same moment; run the command "
                           "again"), EXIT_REFUSED, debug)
    except KeyboardInterrupt:
        _fail(RuntimeError("interrupted"), 130, debug)
    except Exception as error:  # noqa: BLE001 - the user sees one sentence, never a traceback
        # Typer carries its own copy of click: recognise its usage errors by what they offer.
        if type(error).__name__ == "Abort":
            _fail(RuntimeError("aborted"), 130, debug)
        if hasattr(error, "show") and hasattr(error, "exit_code"):
            error.show()
            raise SystemExit(EXIT_INVALID) from None
        _fail(error, EXIT_REFUSED, debug, prefix=f"unexpected error ({type(error).__name__}): ")


def _fail(error: BaseException, code: int, debug: bool, prefix: str = "") -> None:
    if debug:
        import traceback

        traceback.print_exception(error)
    message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    sys.stderr.write(f"retrain: {prefix}{message}\n")
    raise SystemExit(code)


if __name__ == "__main__":
    main()
