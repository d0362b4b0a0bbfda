/* SPDX-License-Identifier: ISC */
/*
 * fuzz_listen.c - libFuzzer harness for settings_parse_listen(): any
 * --listen argument is split or refused with a reason, never a crash,
 * and what is accepted is within the limits the listener relies on.
 */

#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "echod.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* One input: an argument, up to its first NUL as argv would have it. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct listen_spec	 ls;
	char			*arg, why[128];
	long			 port;

	if ((arg = malloc(size + 1)) == NULL)
		return (0);
	memcpy(arg, data, size);
	arg[size] = '\0';
	why[0] = '\0';
	if (settings_parse_listen(&ls, arg, why, sizeof(why)) == 0) {
		if (strcmp(ls.ls_arg, arg) != 0)
			abort();
		if (ls.ls_unix) {
			/* The path whole, as given after the prefixes. */
			if (strcmp(ls.ls_path, arg + 5 + (ls.ls_tls ? 4 : 0) +
			    (ls.ls_proxy ? 6 : 0)) != 0)
				abort();
			if (strlen(ls.ls_path) < 2 || strlen(ls.ls_path) >
			    UNIX_PATH_MAX + (ls.ls_path[0] == '@') ||
			    (ls.ls_path[0] != '/' && ls.ls_path[0] != '@'))
				abort();
		} else if (strlen(ls.ls_host) > HOST_MAX ||
		    settings_parse_count(ls.ls_port, 0, 65535, &port) == -1)
			abort();
	} else if (why[0] == '\0')
		abort();		/* refused without a reason */
	free(arg);
	return (0);
}
