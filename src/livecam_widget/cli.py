"""``livecam serve SOURCE``: the live view outside Jupyter, plus MJPEG and snapshot URLs.

livecam serve 0                      # camera 0
livecam serve clip.mp4 --loop        # a file, repeated
livecam serve testpattern --fps 60

A bad option or source ends the command with one line on stderr (what was wrong, what is accepted) and a
non-zero exit: 2 for an option the parser refuses, 1 for a source or port that cannot be opened.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import logging
import math
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any, NoReturn

from ._checks import checked_max_fps, checked_max_size, checked_quality

FORMATS = ("jpeg", "png", "h264", "auto")


class _Parser(argparse.ArgumentParser):
    """argparse, with its errors on one line (argparse prints the whole usage first)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def _source(text: str) -> int | str:
    return int(text) if text.strip().isdigit() else text


def _number(text: str, kind: type[float] | type[int]) -> float:
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def _fps(text: str) -> float:
    value = _number(text, float)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a number of frames per second above 0, got {text!r}")
    return value


def _checked(check: Callable[[str], Any]) -> Callable[[str], Any]:
    """An option type from one of the settings' rules (the same ones the widget's traits use)."""

    def convert(text: str) -> Any:
        try:
            return check(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return convert


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be 0 (a free port) or a port number 1..65535, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="livecam", description="Serve a live view of a camera, file or stream.")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve SOURCE as a web page, an MJPEG stream and a JPEG snapshot")
    serve.add_argument(
        "source",
        type=_source,
        help="camera index, video file, URL, 'testpattern[:WxH]' or 'browser[:WxH[@FPS]]' (page's camera)",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=_port, default=0, help="port of the web page and MJPEG (default: free)")
    serve.add_argument("--fps", type=_fps, default=None, help="source pace for files and the test pattern")
    max_fps, quality, max_size = map(_checked, (checked_max_fps, checked_quality, checked_max_size))
    serve.add_argument("--max-fps", type=max_fps, default=30.0, help="per-viewer frame cap (0: none)")
    serve.add_argument("--quality", type=quality, default=80, help="JPEG quality 1..100, or 'auto'")
    serve.add_argument(
        "--format",
        choices=FORMATS,
        default="jpeg",
        help="jpeg (default), png (lossless), h264 (video, needs PyAV) or auto (H.264 for slow links)",
    )
    serve.add_argument("--max-size", type=max_size, default=0, help="downscale the longest side to this")
    serve.add_argument("--loop", action="store_true", help="repeat a video file")
    return parser


class _Held(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextlib.contextmanager
def _hold_logs(ok: list[bool]) -> Iterator[None]:
    """Hold the package's log records while the source and the listeners open: when opening fails, the
    one error line is all that is printed; when it works (``ok[0]`` set), they are printed after all."""
    logger = logging.getLogger("livecam_widget")
    held, propagate = _Held(), logger.propagate
    logger.addHandler(held)
    logger.propagate = False
    try:
        yield
    finally:
        logger.removeHandler(held)
        logger.propagate = propagate
        if ok and ok[0]:
            for record in held.records:
                logging.getLogger(record.name).handle(record)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def _open(args: argparse.Namespace) -> tuple[Any, dict[str, str]] | int:
    """The widget and its URLs; or, when anything cannot open, one line on stderr and the exit code."""
    # FFmpeg (inside OpenCV) prints its own lines for a stream that cannot open; ours says it in one.
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "8")  # fatal messages only
    from ._widget import LiveFrame  # after parsing: --help stays fast

    ok: list[bool] = [False]
    lf: Any = None
    try:
        with _hold_logs(ok):
            lf = LiveFrame(
                args.source,
                loop=args.loop,
                fps=args.fps,
                max_fps=args.max_fps,
                quality=args.quality,
                format=args.format,
                max_size=args.max_size,
                host=args.host,
                http_port=args.port,
            )
            urls = {
                "page": lf.page_url,  # starts the HTTP listener: a port in use fails here
                "mjpeg": lf.mjpeg_url,
                "snapshot": lf.snapshot_url,
                "websocket": lf.url,
            }
            ok[0] = True
    except KeyboardInterrupt:
        _close(lf)
        return _fail("interrupted while opening the source", 130)
    except OSError as exc:
        _close(lf)
        if exc.errno == errno.EADDRINUSE:
            message = f"port {args.port} on {args.host} is in use; pick another --port, or 0 for a free one"
        else:
            message = _one_line(exc)
        return _fail(message)
    except Exception as exc:  # the source or an option LiveFrame refused (TraitError, ValueError...)
        _close(lf)
        return _fail(_one_line(exc))
    return lf, urls


def _close(lf: Any) -> None:
    if lf is not None:
        with contextlib.suppress(Exception):
            lf.close()


def _fail(message: str, code: int = 1) -> int:
    print(f"livecam: {message}", file=sys.stderr, flush=True)
    return code


def main(argv: Sequence[str] | None = None, ready: threading.Event | None = None) -> int:
    args = build_parser().parse_args(argv)
    opened = _open(args)
    if isinstance(opened, int):
        return opened
    lf, urls = opened
    done = threading.Event()
    previous = signal.signal(signal.SIGINT, lambda *_: done.set()) if ready is None else None
    if ready is None:
        signal.signal(signal.SIGTERM, lambda *_: done.set())
    try:
        print(f"livecam: serving {args.source!r}", flush=True)
        for name, url in urls.items():
            print(f"  {name:<9} {url}", flush=True)
        print("Ctrl-C to stop.", flush=True)
        if ready is not None:
            ready.set()
        while not done.wait(0.5):
            if lf.state == "ended":
                print("livecam: the source ended; still serving its last frame (Ctrl-C to stop)", flush=True)
                done.wait()
    finally:
        lf.close()
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
        print("livecam: stopped", flush=True)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
