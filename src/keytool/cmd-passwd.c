/*
 * cmd-passwd.c: "kmes-keytool passwd": change the user PIN, knowing it;
 * "so-passwd": change the SO PIN, knowing it.
 */
#include "keytool.h"

int
cmd_passwd(struct keytool *kt, int argc, char **argv)
{
	return kt_set_new_pin(kt, argc, argv, KT_CHANGE_PIN);
}

int
cmd_so_passwd(struct keytool *kt, int argc, char **argv)
{
	return kt_set_new_pin(kt, argc, argv, KT_CHANGE_SO_PIN);
}
