/*
 * cmd-passwd.c: "kmes-keytool passwd": change the user PIN, knowing it.
 */
#include "keytool.h"

int
cmd_passwd(struct keytool *kt, int argc, char **argv)
{
	return kt_set_new_pin(kt, argc, argv, 0, "change the PIN");
}
