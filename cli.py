"""Entry-point glue of train.py, sweep.py and report.py: bad input is one line and exit 2."""

import os
import sys

from absl import app, flags

from errors import UserError
from runs.exit_codes import EXIT_USAGE


def run(main):
    """app.run(main), where a bad flag or a UserError prints `prog: error: ...` and exits 2."""
    prog = os.path.basename(sys.argv[0])

    def parse_flags(argv):
        try:
            return flags.FLAGS(argv)
        except flags.Error as e:  # absl would dump the usage text; one line says enough
            print(f"{prog}: error: {e}", file=sys.stderr)
            sys.exit(EXIT_USAGE)

    def checked_main(argv):
        if len(argv) > 1:
            print(
                f"{prog}: error: unexpected arguments {argv[1:]}; flags look like --name=value",
                file=sys.stderr,
            )
            sys.exit(EXIT_USAGE)
        try:
            sys.exit(main())
        except UserError as e:
            print(f"{prog}: error: {e}", file=sys.stderr)
            sys.exit(EXIT_USAGE)

    app.run(checked_main, flags_parser=parse_flags)
