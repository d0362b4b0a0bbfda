/* SPDX-License-Identifier: ISC */
/*
 * fuzz_settings.c - libFuzzer harness for settings_parse(): a whole
 * command line built from the input (arguments split at NUL bytes) runs,
 * exits or is refused, never crashes, and what runs is consistent.
 */

#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "echod.h"

/* Most arguments taken from one input; getopt copes with any number. */
#define FUZZ_ARGS_MAX	64

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* One input: "echod" and the arguments between its NUL bytes. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static FILE		*devnull;
	struct settings		 s;
	char			*buf, *argv[FUZZ_ARGS_MAX + 2], prog[] = "echod";
	size_t			 i, start;
	int			 argc = 1;

	if (devnull == NULL && (devnull = fopen("/dev/null", "w")) == NULL)
		abort();
	if ((buf = malloc(size + 1)) == NULL)
		return (0);
	memcpy(buf, data, size);
	buf[size] = '\0';
	argv[0] = prog;
	for (i = 0, start = 0; i <= size && argc <= FUZZ_ARGS_MAX; i++) {
		if (buf[i] != '\0')
			continue;
		argv[argc++] = buf + start;
		start = i + 1;
	}
	argv[argc] = NULL;

	settings_init(&s);
	if (settings_parse(&s, argc, argv, devnull, devnull) == SETTINGS_RUN &&
	    ((s.nlisten == 0 && s.nudp == 0) || s.nlisten > LISTEN_MAX ||
	    s.nudp > LISTEN_MAX ||
	    s.low_water > s.high_water || s.threads < 1 ||
	    s.proxy_timeout == 0 || s.socket_mode > 0777 ||
	    (s.use_syslog && s.log_file != NULL)))
		abort();
	free(buf);
	return (0);
}
