"""qlesson: the helper library of the integer-only quantized inference lessons.

Import it as ``import qlesson as ql``. The lessons call these functions; the functions name
the lesson that teaches them in their docstrings.
"""

from .borders import REGIONS, RegionRow, RegionSummary, border_regions, region_name, summarize_regions
from .convolution import METHODS, ConvGeometry, conv_geometry, conv_integer, padding_error_map
from .data import sample_photo
from .elsewhere import (PAD_MODES, TRANSPOSE_METHODS, avg_pool_integer, conv_transpose_error_map,
                        conv_transpose_integer, insert_zeros, max_pool_integer, pad_integer, padding_sources,
                        panel_heatmaps)
from .engines import (Comparison, EngineError, UnsupportedConfiguration, compare_integers, onnxruntime_conv_integer,
                      onnxruntime_qlinear_conv, padding_only_axis, torch_quantized_conv, torch_quantized_engines,
                      x86_u8s8_may_saturate)
from .exercises import Feedback, check_answer
from .expansion import FourTerms, four_terms, window_sum
from .i18n import LANGUAGES, get_language, localize, set_language, tr
from .lesson_widgets import (FourTermsExplorer, QuantizationGrid, QuantizationGridExplorer, quantization_grid,
                             quantization_grid_figure)
from .pipeline import (DifferenceCounts, EngineOutput, EngineRow, EngineTable, QuantizedConv, compare_engines,
                       count_differences, edge_filter_conv, quantize_bias, quantize_conv_layer, requantize, run_engines)
from .plots import compare_error_maps, error_heatmaps, figure_to_png, image_comparison
from .qlinear import (ACTIVATIONS, ROUNDINGS, OutputMultipliers, activation_range, fold_zero_point_into_bias,
                      output_multipliers, qlinear_conv)
from .quantization import choose_qparams, dequantize, quantize, quantized_range
from .requantization import (RoundingMismatch, accumulator_bound, choose_qparams_reduced_range, conv_integer_int32,
                             dot_u8s8_saturating, find_double_rounding_mismatch, max_taps_int32,
                             multiply_by_float_multiplier, multiply_by_quantized_multiplier, pairwise_multiply_add,
                             quantize_multiplier, quantize_multipliers, reduced_range, wrap_int32)
from .widgets import PaddingExplorer
from .requant_widgets import (AccumulatorExplorer, MultiplierExplorer, RoundingTrace, accumulator_bound_figure,
                              accumulator_wrap_figure, count_double_rounding_mismatches, double_rounding_figure,
                              trace_double_rounding)

__all__ = [
    "ACTIVATIONS",
    "LANGUAGES",
    "METHODS",
    "REGIONS",
    "ROUNDINGS",
    "Comparison",
    "ConvGeometry",
    "DifferenceCounts",
    "EngineError",
    "EngineOutput",
    "EngineRow",
    "EngineTable",
    "Feedback",
    "FourTerms",
    "FourTermsExplorer",
    "OutputMultipliers",
    "PaddingExplorer",
    "QuantizationGrid",
    "QuantizationGridExplorer",
    "QuantizedConv",
    "RegionRow",
    "RegionSummary",
    "RoundingMismatch",
    "UnsupportedConfiguration",
    "accumulator_bound",
    "activation_range",
    "border_regions",
    "check_answer",
    "choose_qparams",
    "choose_qparams_reduced_range",
    "compare_error_maps",
    "compare_engines",
    "compare_integers",
    "conv_geometry",
    "conv_integer",
    "conv_integer_int32",
    "count_differences",
    "dequantize",
    "dot_u8s8_saturating",
    "edge_filter_conv",
    "error_heatmaps",
    "figure_to_png",
    "find_double_rounding_mismatch",
    "fold_zero_point_into_bias",
    "four_terms",
    "get_language",
    "image_comparison",
    "localize",
    "max_taps_int32",
    "multiply_by_float_multiplier",
    "multiply_by_quantized_multiplier",
    "onnxruntime_conv_integer",
    "onnxruntime_qlinear_conv",
    "output_multipliers",
    "padding_error_map",
    "padding_only_axis",
    "pairwise_multiply_add",
    "qlinear_conv",
    "quantization_grid",
    "quantization_grid_figure",
    "quantize",
    "quantize_bias",
    "quantize_conv_layer",
    "quantize_multiplier",
    "quantize_multipliers",
    "quantized_range",
    "reduced_range",
    "region_name",
    "requantize",
    "run_engines",
    "sample_photo",
    "set_language",
    "summarize_regions",
    "tr",
    "torch_quantized_conv",
    "torch_quantized_engines",
    "window_sum",
    "wrap_int32",
    "x86_u8s8_may_saturate",
    # "Accumulator width" and "Requantization"
    "AccumulatorExplorer",
    "MultiplierExplorer",
    "RoundingTrace",
    "accumulator_bound_figure",
    "accumulator_wrap_figure",
    "count_double_rounding_mismatches",
    "double_rounding_figure",
    "trace_double_rounding",
    # "Where else the trap lives"
    "PAD_MODES",
    "TRANSPOSE_METHODS",
    "avg_pool_integer",
    "conv_transpose_error_map",
    "conv_transpose_integer",
    "insert_zeros",
    "max_pool_integer",
    "pad_integer",
    "padding_sources",
    "panel_heatmaps",
]
