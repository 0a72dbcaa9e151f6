/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * The release of tpio, one string for the kernel module (MODULE_VERSION,
 * "modinfo tpio.ko") and the library (libtpio.so.<version>, tpio.pc).
 * libtpio/Makefile reads it with sed: keep the line's shape.
 */
#ifndef _TPIO_VERSION_H
#define _TPIO_VERSION_H

#define TPIO_VERSION "0.1.0"

#endif /* _TPIO_VERSION_H */
