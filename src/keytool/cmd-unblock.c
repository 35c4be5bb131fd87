/*
 * cmd-unblock.c: "kmes-keytool unblock": the SO (recovery) PIN sets a new
 * user PIN and clears the failure counter, blocked or not.
 */
#include "keytool.h"

int
cmd_unblock(struct keytool *kt, int argc, char **argv)
{
	return kt_set_new_pin(kt, argc, argv, KT_UNBLOCK);
}
