/*
 * p11t.h: libkmes-pkcs11.so as an application sees it, for the module's
 * unit tests: a scratch store, the module dlopen'd from
 * $KMES_PKCS11_MODULE (meson sets it) and driven through its 3.0
 * function list, and sessions on its one slot.
 */
#ifndef KMES_P11T_H
#define KMES_P11T_H

#include <stddef.h>

#include "p11-compat.h"

#include "crypto.h"

/*
 * Makes a store labelled token_label under a new scratch directory
 * (tu_setup(name)) with the PINs given, cheap KDF, holding one generated
 * key of types[i] labelled labels[i] for each i < n (RSA keys of bits),
 * and points KMES_STORE at it. Returns its path (valid until p11t_unload).
 */
const char *p11t_make_store(const char *name, const char *token_label,
    const char *pin, const char *so_pin, const enum ks_key_type *types,
    const char *const *labels, size_t n, unsigned int bits);

/* Loads and initialises the module; returns its 3.0 function list. */
CK_FUNCTION_LIST_3_0 *p11t_load(void);

/* Finalises and unloads the module and removes the scratch directory. */
void p11t_unload(void);

/* Opens a session on slot 1, read-write if rw, logged in as the user with
 * pin unless pin is NULL. */
CK_SESSION_HANDLE p11t_open_session(int rw, const char *pin);

#endif /* KMES_P11T_H */
