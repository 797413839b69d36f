"""livecam-widget: live video in Jupyter that never falls behind."""

from ._testpattern import TestPattern, draw_code, read_code
from ._widget import LiveFrame

__all__ = ["LiveFrame", "TestPattern", "__version__", "draw_code", "read_code"]
__version__ = "0.1.0"
