"""Command line: ``python -m sentry_logging_std <command>``."""

from __future__ import annotations

import argparse
import sys
from typing import Optional

from sentry_logging_std import _check, _estemplate, _spool_cli

__all__ = ["main"]


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m sentry_logging_std",
        description="Tools for sentry-logging-std.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser(
        "check",
        help="validate the configuration and send a test event",
        description="Validate the DSN and options, send a test event, and say whether the "
        "server accepted it (exit 0), refused it (3), failed (4) or could not be reached (5). "
        "A configuration error exits 2.",
    )
    _check.add_arguments(check)
    check.set_defaults(run=_check.run)
    template = commands.add_parser(
        "es-template",
        help="print the Elasticsearch index template for JsonFormatter's lines",
        description="Print an Elasticsearch composable index template whose mappings match "
        "exactly what JsonFormatter writes, declared fields included.",
    )
    _estemplate.add_arguments(template)
    template.set_defaults(run=_estemplate.run)
    spool = commands.add_parser(
        "spool",
        help="look at, deliver or empty a spool directory (spool_dir)",
        description="Events that could not be delivered wait in the spool directory. "
        "`status` shows what waits, `send` delivers it (exit 0; 3 refused key, 4 server "
        "error, 5 unreachable: what did not go stays), `purge` removes it all.",
    )
    _spool_cli.add_arguments(spool)
    args = parser.parse_args(argv)
    code: int = args.run(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
