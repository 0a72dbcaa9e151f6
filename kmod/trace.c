// SPDX-License-Identifier: GPL-2.0-only
/*
 * tpio: the one place where the tracepoints of tpio_trace.h are
 * instantiated.
 */

#define CREATE_TRACE_POINTS
#include "tpio_trace.h"
