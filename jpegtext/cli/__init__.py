"""The ``jpegtext`` command line: a thin layer over the library API.

Commands live in their own modules and are imported only when used, so ``jpegtext --help`` and
``jpegtext info`` never import torch or transformers. Library errors (:class:`JpegTextError`) and
file errors become a one-line ``Error: ...`` message and exit status 1; usage errors exit 2;
``--debug`` shows the full traceback instead.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import signal
import sys
import threading
from collections.abc import Iterator
from typing import Any

import click

from jpegtext import __version__
from jpegtext.errors import JpegTextError

__all__ = ["Terminated", "main"]

# command name -> (module under jpegtext.cli, attribute, one-line help shown by --help)
_COMMANDS: dict[str, tuple[str, str, str]] = {
    "encode": ("encode", "encode", "Compress images to JPEG with an embedded caption."),
    "info": ("info", "info", "Show the caption, quality and sizes of JPEG files."),
    "caption": ("caption", "caption", "Print captions of images without encoding them."),
    "decode": ("decode", "decode", "Restore JPEG files with the text-guided generator."),
    "models": ("models", "models", "List the registered restoration models."),
    "export": ("export", "export", "Export a restoration model to ONNX or torch.export."),
    "train": ("train", "train", "Train the DAMSM encoders (stage 1) or TGJAR (stage 2)."),
    "evaluate": ("evaluate", "evaluate", "Evaluate methods on a dataset (paper's tables)."),
    "serve": ("serve", "serve", "Serve restorations over HTTP, with a comparison page."),
}


class Terminated(SystemExit):
    """SIGTERM while a command runs (``kill``, a job scheduler, torchrun ending its processes):
    it unwinds the command as Ctrl-C does, so that temporary files are removed and no partial
    output is left. The exit status is 143 (128 + SIGTERM), as for an unhandled SIGTERM."""


@contextlib.contextmanager
def _sigterm_unwinds() -> Iterator[None]:
    """While the block runs, SIGTERM raises :class:`Terminated` in the main thread (signal
    handlers can only be set there); the previous handler is put back afterwards."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def terminate(signum: int, frame: object) -> None:
        raise Terminated(128 + signum)

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class _LazyGroup(click.Group):
    """A group whose commands are imported on first use and whose errors are one line."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(_COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = _COMMANDS.get(cmd_name)
        if entry is None:
            return None
        module_name, attr, _ = entry
        module = importlib.import_module(f"jpegtext.cli.{module_name}")
        return getattr(module, attr)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # Use the static help lines so that --help imports no command module.
        rows = [(name, _COMMANDS[name][2]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            with _sigterm_unwinds():
                return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except (JpegTextError, OSError, MemoryError) as exc:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            raise click.ClickException(_one_line(exc)) from None


def _one_line(exc: BaseException) -> str:
    """The message of ``exc`` on one line, prefixed by its type for non-jpegtext errors.

    File names and text from files in it are escaped (:func:`~jpegtext.cli._text.printable`),
    so printing it never fails and cannot drive the terminal.
    """
    from jpegtext.cli._text import printable

    text = " ".join(str(exc).split()) or type(exc).__name__
    if isinstance(exc, JpegTextError):
        return printable(text)
    if isinstance(exc, OSError) and exc.strerror and exc.filename:
        return printable(f"{exc.filename}: {exc.strerror}")
    return printable(f"{type(exc).__name__}: {text}")


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="jpegtext")
@click.option("--debug", is_flag=True, help="Show full tracebacks instead of one-line errors.")
@click.option("-v", "--verbose", count=True, help="More log output (-v info, -vv debug).")
@click.pass_context
def main(ctx: click.Context, debug: bool, verbose: int) -> None:
    """jpegtext: text-guided JPEG artifact reduction.

    The sender compresses a photo at a very low JPEG quality and stores a caption of the clean
    photo inside the file; the receiver reads the caption and restores the image with the
    text-guided TGJAR generator.
    """
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
