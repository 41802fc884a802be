"""The `pqcompile` command line: thin click commands, one module per stage in pqcompile/commands/.

Every command prints a readable report by default and one JSON object on stdout with --json.
Errors the user can fix (PqError) are one line on stderr and a non-zero exit, never a traceback.
"""
from __future__ import annotations

import importlib
import sys

import click

from . import __version__
from .errors import PqError

# Each module defines `COMMANDS`, a list of click commands (or groups) to register.
COMMAND_MODULES = [
    "pqcompile.commands.projection",
    "pqcompile.commands.data_report",
    "pqcompile.commands.export",
    "pqcompile.commands.build",
    "pqcompile.commands.targets",
    "pqcompile.commands.verify_projection",
    "pqcompile.commands.train",
    "pqcompile.commands.evaluate",
    "pqcompile.commands.predict",
    "pqcompile.commands.teacher",
    "pqcompile.commands.demo",
]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="pqcompile")
def cli() -> None:
    """pqcompile: tiny embedding-free pQRNN text models -> bit-exact ARM firmware.

    The flow: text -> projection -> int8 network -> intent + slots, trained in PyTorch,
    exported to ONNX, compiled with Apache TVM into a static C program for Cortex-M/A.
    """


for _name in COMMAND_MODULES:
    for _cmd in importlib.import_module(_name).COMMANDS:
        cli.add_command(_cmd)


def main(argv: list[str] | None = None) -> None:
    try:
        cli.main(args=argv, prog_name="pqcompile", standalone_mode=False)
    except PqError as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(e.exit_code)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as e:
        e.show()
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(0)


if __name__ == "__main__":
    main()
