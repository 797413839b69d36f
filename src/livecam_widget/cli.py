"""``livecam serve SOURCE``: the live view outside Jupyter, plus MJPEG and snapshot URLs.

livecam serve 0                      # camera 0
livecam serve clip.mp4 --loop        # a file, repeated
livecam serve testpattern --fps 60
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence


def _source(text: str) -> int | str:
    return int(text) if text.strip().isdigit() else text


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="livecam", description="Serve a live view of a camera, file or stream."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve SOURCE as a web page, an MJPEG stream and a JPEG snapshot")
    serve.add_argument("source", type=_source, help="camera index, video file, URL, or 'testpattern[:WxH]'")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=0, help="port of the web page and MJPEG (default: free)")
    serve.add_argument("--fps", type=float, default=None, help="source pace for files and the test pattern")
    serve.add_argument("--max-fps", type=float, default=30.0, help="per-viewer frame cap (0: none)")
    serve.add_argument("--quality", type=int, default=80, help="JPEG quality 1..100")
    serve.add_argument("--max-size", type=int, default=0, help="downscale the longest side to this")
    serve.add_argument("--loop", action="store_true", help="repeat a video file")
    return parser


def main(argv: Sequence[str] | None = None, ready: threading.Event | None = None) -> int:
    args = build_parser().parse_args(argv)
    from ._widget import LiveFrame  # after parsing: --help stays fast

    try:
        lf = LiveFrame(
            args.source,
            loop=args.loop,
            fps=args.fps,
            max_fps=args.max_fps,
            quality=args.quality,
            max_size=args.max_size,
            host=args.host,
            http_port=args.port,
        )
    except (RuntimeError, OSError, ValueError, TypeError) as exc:
        print(f"livecam: {exc}", file=sys.stderr)
        return 1
    done = threading.Event()
    previous = signal.signal(signal.SIGINT, lambda *_: done.set()) if ready is None else None
    if ready is None:
        signal.signal(signal.SIGTERM, lambda *_: done.set())
    try:
        print(f"livecam: serving {args.source!r}", flush=True)
        print(f"  page      {lf.page_url}", flush=True)
        print(f"  mjpeg     {lf.mjpeg_url}", flush=True)
        print(f"  snapshot  {lf.snapshot_url}", flush=True)
        print(f"  websocket {lf.url}", flush=True)
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
