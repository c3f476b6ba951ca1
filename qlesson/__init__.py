"""qlesson: the helper library of the integer-only quantized inference lessons.

Import it as ``import qlesson as ql``. The lessons call these functions; the functions name
the lesson that teaches them in their docstrings.
"""

from .borders import REGIONS, RegionRow, RegionSummary, border_regions, region_name, summarize_regions
from .convolution import METHODS, ConvGeometry, conv_geometry, conv_integer, padding_error_map
from .i18n import LANGUAGES, get_language, localize, set_language
from .quantization import choose_qparams, dequantize, quantize, quantized_range

__all__ = [
    "LANGUAGES",
    "METHODS",
    "REGIONS",
    "ConvGeometry",
    "RegionRow",
    "RegionSummary",
    "border_regions",
    "choose_qparams",
    "conv_geometry",
    "conv_integer",
    "dequantize",
    "get_language",
    "localize",
    "padding_error_map",
    "quantize",
    "quantized_range",
    "region_name",
    "set_language",
    "summarize_regions",
]
