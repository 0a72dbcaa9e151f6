// SPDX-License-Identifier: MIT
/*
 * Diagnostics on stderr: tpio_warn always (a limit was hit, a backend
 * failed), tpio_diag only with TPIO_DEBUG=1 (misuse the caller can
 * survive). Every layer above the transport prints through these.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include "engine.h"

int tpio_debug(void)
{
	static int cached = -1;
	int v = __atomic_load_n(&cached, __ATOMIC_RELAXED);

	if (v < 0) {
		const char *s = getenv("TPIO_DEBUG");

		v = s && *s && strcmp(s, "0") != 0;
		__atomic_store_n(&cached, v, __ATOMIC_RELAXED);
	}
	return v;
}

static void vdiag(const char *fmt, va_list ap)
{
	char buf[512];

	vsnprintf(buf, sizeof(buf), fmt, ap);
	fprintf(stderr, "libtpio: %s\n", buf);
}

/* Misuse the caller can survive: printed only with TPIO_DEBUG=1. */
void tpio_diag(const char *fmt, ...)
{
	va_list ap;

	if (!tpio_debug())
		return;
	va_start(ap, fmt);
	vdiag(fmt, ap);
	va_end(ap);
}

/* Always printed: a limit was hit or a backend failed. */
void tpio_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vdiag(fmt, ap);
	va_end(ap);
}
