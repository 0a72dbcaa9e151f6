// SPDX-License-Identifier: MIT
/*
 * The library's settings, read from the environment once (the first
 * caller; pthread_once) and constant afterwards, so that no thread reads a
 * half-written value; only a port's sizes are read again for each pool, as
 * they size that pool alone. Documentation/libtpio.rst lists the variables.
 */
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include "engine.h"

static struct tpio_config cfg;
static pthread_once_t cfg_once = PTHREAD_ONCE_INIT;

static uint32_t env_u32(const char *name, uint32_t def, uint32_t lo,
			uint32_t hi)
{
	const char *s = getenv(name);
	char *end;
	unsigned long v;

	if (!s || !*s)
		return def;
	v = strtoul(s, &end, 0);
	if (*end || v < lo || v > hi) {
		tpio_warn("%s=%s out of range %u..%u, using %u", name, s, lo, hi,
			  def);
		return def;
	}
	return (uint32_t)v;
}

/* CPUs this process may run on, at the first look. */
static uint32_t affinity_cpus(void)
{
	cpu_set_t set;
	int n;

	if (sched_getaffinity(0, sizeof(set), &set))
		return 1;
	n = CPU_COUNT(&set);
	return n > 0 ? (uint32_t)n : 1;
}

void tpio_config_port(uint32_t *ring_entries, uint32_t *max_objects)
{
	uint32_t n = env_u32("TPIO_RING_ENTRIES", 1024, TPIO_RING_MIN,
			     TPIO_RING_MAX);

	if (n & (n - 1)) {
		tpio_warn("TPIO_RING_ENTRIES=%u is not a power of two, using 1024",
			  n);
		n = 1024;
	}
	*ring_entries = n;
	*max_objects = env_u32("TPIO_MAX_OBJECTS", 16384, 2, TPIO_OBJECTS_MAX);
}

static void config_read(void)
{
	const char *s;

	cfg.idle_timeout_ms = env_u32("TPIO_IDLE_TIMEOUT_MS", 10000, 1,
				      3600000);
	cfg.cpus = affinity_cpus();
	/* spinning on the only CPU would steal it from the thread we wait for */
	cfg.spin_us = env_u32("TPIO_SPIN_US", cfg.cpus > 1 ? 20 : 0, 0, 1000);
	cfg.concurrency = env_u32("TPIO_CONCURRENCY", cfg.cpus, 1, 1023);
	cfg.stall_us = env_u32("TPIO_STALL_US", 1000, 100, 1000000);
	cfg.meter = env_u32("TPIO_CPU_METER", 1, 0, 1);
	/*
	 * The module's concurrency control: 0 nowhere, 1 (default) for
	 * completion ports, 2 for ports and pools (Documentation/libtpio.rst,
	 * "Concurrency and stalls": pools measured slower with it so far)
	 */
	cfg.kernel_conc = env_u32("TPIO_KERNEL_CONC", 1, 0, 2);
	s = getenv("TPIO_SOCKET_RECV");
	cfg.socket_poll = s && !strcmp(s, "poll");
	if (s && *s && strcmp(s, "poll") && strcmp(s, "uring"))
		tpio_warn("TPIO_SOCKET_RECV=%s is not poll or uring, using uring",
			  s);
	s = getenv("TPIO_STATS");
	cfg.stats = s && *s && strcmp(s, "0") != 0;
	cfg.stats_ms = env_u32("TPIO_STATS_MS", 100, 10, 10000);
}

const struct tpio_config *tpio_config(void)
{
	pthread_once(&cfg_once, config_read);
	return &cfg;
}

/* The engine's budget is read when the engine first needs it. */
static uint32_t io_inflight;
static pthread_once_t io_once = PTHREAD_ONCE_INIT;

static void io_inflight_read(void)
{
	io_inflight = env_u32("TPIO_IO_INFLIGHT", 8192, 1, 32768);
}

uint32_t tpio_config_io_inflight(void)
{
	pthread_once(&io_once, io_inflight_read);
	return io_inflight;
}
