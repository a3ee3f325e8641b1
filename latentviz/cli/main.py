"""``latentviz`` entry point: lazy subcommands, one exit path for errors.

Every expected failure ends as ``latentviz: error: <one line>`` on stderr with exit code 2
(1 for a failed audit); ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import logging
import os
import sys
import warnings

import click

# command name -> "module:attribute" (imported only when that command runs or help lists it)
COMMANDS = {
    "encode": "latentviz.cli.encode:encode_command",
    "inspect": "latentviz.cli.inspect:inspect_command",
    "import": "latentviz.cli.import_:import_command",
    "sample": "latentviz.cli.sample:sample_command",
    "run": "latentviz.cli.pipeline:run_command",
    "demo": "latentviz.cli.pipeline:demo_command",
    "metrics": "latentviz.cli.metrics:metrics_command",
    "project": "latentviz.cli.project:project_command",
    "cluster": "latentviz.cli.cluster:cluster_command",
    "drift": "latentviz.cli.drift:drift_command",
    "report": "latentviz.cli.report:report_command",
    "compare": "latentviz.cli.report:compare_command",
    "audit": "latentviz.cli.audit:audit_command",
    "export": "latentviz.cli.export:export_command",
    "traverse": "latentviz.cli.traverse:traverse_command",
    "dashboard": "latentviz.cli.dashboard:dashboard_command",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx):
        return sorted(COMMANDS)

    def get_command(self, ctx, name):
        target = COMMANDS.get(name)
        if target is None:
            return None
        module, _, attr = target.partition(":")
        return getattr(importlib.import_module(module), attr)

    def invoke(self, ctx):
        """Run the subcommand; a library's :class:`~latentviz._validation.ParameterError` comes out naming the flag.

        The library names its Python parameter (``project: k: must be ...``); the command that
        received the value as a flag says ``--k: must be ...``. Click's own options are the one
        table of parameter -> flag; a parameter the command has no flag for keeps the library's message.
        """
        from latentviz._validation import ParameterError
        from latentviz.errors import InputError

        try:
            return super().invoke(ctx)
        except ParameterError as exc:
            command = self.get_command(ctx, ctx.invoked_subcommand) if ctx.invoked_subcommand else None
            flag = flag_of(command, exc.parameter)
            if flag is None:
                raise
            raise InputError(f"{flag}: {exc.problem}") from exc


def flag_of(command: click.Command | None, parameter: str) -> str | None:
    """The long flag through which ``command`` takes the library's ``parameter`` (None: it has none)."""
    for option in getattr(command, "params", ()):
        if isinstance(option, click.Option) and option.name == parameter:
            return max(option.opts, key=len)
    return None


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="latentviz")
@click.option("--quiet", "-q", is_flag=True, help="No progress bars or status lines.")
@click.option("--debug", is_flag=True, help="Show tracebacks instead of one-line errors.")
@click.pass_context
def cli(ctx, quiet, debug):
    """Open up the latent space of any trained PyTorch model."""
    ctx.obj = {"quiet": quiet, "debug": debug}


#: Set (unless the user set them) so hub libraries never try the network: latentviz loads local
#: folders only, and a failed fetch is a paragraph of warnings on stderr.
OFFLINE_ENV = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
}


@contextlib.contextmanager
def library_noise_silenced(debug: bool):
    """Keep stderr to latentviz's own lines while a command runs; ``--debug`` shows everything.

    Libraries' warnings (torch's pickle and export notes, numpy's RuntimeWarning and
    ComplexWarning, ...) are dropped and latentviz's own become one line each
    (``latentviz: warning: ...``); logging below ERROR is off (torch.export's fallback
    tracebacks, diffusers' and transformers' notes); hub libraries stay offline. The one
    place that decides this, at the composition root; the previous state returns afterwards.
    """
    if debug:
        yield
        return
    for key, value in OFFLINE_ENV.items():
        os.environ.setdefault(key, value)
    previous = logging.root.manager.disable
    with warnings.catch_warnings():
        warnings.simplefilter("default")
        warnings.showwarning = _show_own_warning
        logging.disable(logging.WARNING)
        try:
            yield
        finally:
            logging.disable(previous)


def _show_own_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """One line for a warning of latentviz's own classes; nothing for a library's."""
    if category.__module__.split(".")[0] == "latentviz":
        print(f"latentviz: warning: {' '.join(str(message).split())}", file=sys.stderr)


def main(argv=None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    with library_noise_silenced("--debug" in argv):
        _main(argv)


def _main(argv: list) -> None:
    from latentviz.errors import LatentvizError

    debug = "--debug" in argv
    try:
        cli.main(args=argv, prog_name="latentviz", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.Abort:
        _fail("interrupted", 130)
    except click.ClickException as exc:
        _fail(exc.format_message(), 2)
    except LatentvizError as exc:
        if debug:
            raise
        _fail(str(exc), exc.exit_code)
    except KeyboardInterrupt:
        _fail("interrupted", 130)
    except Exception as exc:  # a bug, not bad input: still one line, with the way to the traceback
        if debug:
            raise
        _fail(f"unexpected {type(exc).__name__}: {exc} (run with --debug for the traceback and report it)", 2)
    sys.exit(0)


def program() -> None:
    """The ``latentviz`` program: :func:`main`, then a quick exit.

    At exit the interpreter's garbage collector walks every object left, and after numba and
    scikit-learn are loaded that takes about 0.5 s, a tenth of a small ``project``. Nothing
    needs collecting when the process ends, so the survivors are frozen out of its reach.
    """
    try:
        main()
    finally:
        gc.freeze()


def _fail(message: str, code: int) -> None:
    line = " ".join(message.split())
    print(f"latentviz: error: {line}", file=sys.stderr)
    sys.exit(code)
