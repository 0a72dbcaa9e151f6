// SPDX-License-Identifier: MIT
/*
 * pipeline: the example examples/win_pipeline.c as a conformance program:
 * one Windows program using TP_TIMER, TP_WORK, TP_IO, TP_WAIT and a
 * completion port together, built unchanged with mingw-w64 (run under
 * Wine) and against libtpio; its transcript (scenario "pipeline") must be
 * the same on both sides.
 */
#include "../examples/win_pipeline.c"
