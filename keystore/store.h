/*
 * store.h: the embedded encrypted key store (format: man/kmes-keystore.5).
 *
 * One file holds a header (label, store id, KDF parameters, the PIN failure
 * counter, and a random 256-bit data key wrapped once under the user PIN
 * and once under the SO PIN) and key records. Each record keeps its public
 * metadata in the clear (label, key type, public blob, policy flags) and its
 * private key sealed with AES-256-GCM under the data key, the metadata being
 * the authenticated data; a MAC under the data key covers the header and the
 * whole record set, so a flipped bit, a swapped, edited or deleted record is
 * detected. Private key bytes never reach the file in the clear.
 *
 * Reading the public part needs no PIN. Everything else needs a login,
 * which leaves the data key in locked memory inside the struct ks_store.
 * Every change is made under an exclusive lock on PATH.lock: re-read the
 * file, apply, write PATH.tmp, fsync, (keep the old file as PATH.1,) rename
 * over PATH, fsync the directory. So concurrent writers (keytools, the
 * agent, the PKCS#11 module) never lose each other's keys, and a crash
 * leaves the old or the new file, never a broken one. A PIN-free checksum
 * finds accidental damage before any PIN; ks_store_recover salvages what
 * is left.
 */
#ifndef KMES_STORE_H
#define KMES_STORE_H

#include <stddef.h>
#include <stdint.h>

struct ks_key;
struct ks_store;

#define KS_STORE_ID_LEN 16
#define KS_STORE_MAX_TRIES 10
#define KS_STORE_PIN_MIN 4
#define KS_STORE_PIN_MAX 256
#define KS_STORE_LABEL_MAX 255
#define KS_STORE_CKAID_MAX 64 /* a record's optional PKCS#11 CKA_ID */

/* Record policy flags. */
#define KS_REC_CONFIRM 0x01	      /* ask before every signature */
#define KS_REC_GENERATED 0x02	      /* generated inside the store */
#define KS_REC_NEVER_EXTRACTABLE 0x04 /* always set: no export exists */

/* scrypt cost; log2_n 0 means the default (strong) cost. */
struct ks_store_kdf {
	uint8_t log2_n;
	uint32_t r;
	uint32_t p;
};

/* Public facts about a record (no PIN needed); strings owned by the store. */
struct ks_store_entry {
	const char *label;
	const uint8_t *blob; /* public key blob */
	size_t blob_len;
	uint32_t flags;
	uint64_t created;     /* unix time */
	const uint8_t *ckaid; /* the CKA_ID given to the key, or NULL */
	size_t ckaid_len;
};

/*
 * Returns the default store path ($KMES_STORE, else
 * $XDG_DATA_HOME/kmes/keystore, else ~/.local/share/kmes/keystore) in a
 * malloc'd string, or NULL.
 */
char *ks_store_default_path(void);

/*
 * Creates a new store at path (its directory is created 0700 if missing;
 * the file is 0600). Refuses with KMES_ERR_EXISTS if path exists.
 * kdf may be NULL for the default cost. Returns 0 or a negative KMES_ERR_*.
 */
int ks_store_create(const char *path, const char *label, const uint8_t *pin,
    size_t pinlen, const uint8_t *so_pin, size_t so_pinlen,
    const struct ks_store_kdf *kdf) __attribute__((warn_unused_result));

/*
 * Opens and checks the structure of the store at path; no PIN needed.
 * Returns 0, KMES_ERR_STORE_NOT_FOUND, KMES_ERR_STORE_CORRUPT or another
 * negative KMES_ERR_*.
 */
int ks_store_open(const char *path, struct ks_store **sp)
    __attribute__((warn_unused_result));

/* Re-reads the file if it changed on disk (keeps a login). Returns 0 or
 * a negative KMES_ERR_*; *changed is set to 1 if anything was reloaded. */
int ks_store_refresh(struct ks_store *s, int *changed)
    __attribute__((warn_unused_result));

/* Wipes the data key and frees; accepts NULL. */
void ks_store_free(struct ks_store *s);

const char *ks_store_path(const struct ks_store *s);
const char *ks_store_label(const struct ks_store *s);
const uint8_t *ks_store_id(const struct ks_store *s); /* 16 bytes */
uint32_t ks_store_pin_failures(const struct ks_store *s);
int ks_store_pin_blocked(const struct ks_store *s);
void ks_store_kdf_params(const struct ks_store *s, struct ks_store_kdf *kdf);
int ks_store_logged_in(const struct ks_store *s);

size_t ks_store_count(const struct ks_store *s);
/* Fills *e for record i. Returns 0 or KMES_ERR_INVALID_ARGUMENT. */
int ks_store_entry(const struct ks_store *s, size_t i,
    struct ks_store_entry *e);
/* Index of the record with this label, or -1. */
long ks_store_find(const struct ks_store *s, const char *label);

/*
 * Logs in with the user PIN (so = 0) or the SO PIN (so = 1). The attempt
 * is marked in the file (fsynced) before the KDF runs, so a process killed
 * during it still spends the try; a wrong PIN then counts a failure, a
 * right one resets the counter. A right PIN on a file that fails its MAC
 * is KMES_ERR_STORE_CORRUPT and counts nothing. After KS_STORE_MAX_TRIES
 * consecutive user-PIN failures the PIN is blocked (KMES_ERR_PIN_LOCKED)
 * until unblocked with the SO PIN; logins in flight at once never count
 * against it unless they fail.
 * *tries_left (may be NULL) says how many user-PIN tries remain.
 * Returns 0, KMES_ERR_PIN_INCORRECT, KMES_ERR_PIN_LOCKED,
 * KMES_ERR_STORE_CORRUPT or another KMES_ERR_*.
 */
int ks_store_login(struct ks_store *s, int so, const uint8_t *pin,
    size_t pinlen, unsigned int *tries_left)
    __attribute__((warn_unused_result));

/* Forgets the data key (wiped). */
void ks_store_logout(struct ks_store *s);

/*
 * Checks the user PIN without changing the login state (a context-specific
 * login: a key that asks for the PIN at every use). Failures count and
 * block as for ks_store_login. Returns 0, KMES_ERR_PIN_INCORRECT,
 * KMES_ERR_PIN_LOCKED or another negative KMES_ERR_*.
 */
int ks_store_check_pin(struct ks_store *s, const uint8_t *pin, size_t pinlen,
    unsigned int *tries_left) __attribute__((warn_unused_result));

/*
 * Decrypts record i into a private key (in the secure heap). Needs a login.
 * Returns 0, KMES_ERR_NOT_LOGGED_IN, KMES_ERR_STORE_CORRUPT or KMES_ERR_*.
 */
int ks_store_load_key(const struct ks_store *s, size_t i, struct ks_key **keyp)
    __attribute__((warn_unused_result));

/*
 * Adds key (which must hold a private key) under a new, unique label.
 * Needs a login. Returns 0, KMES_ERR_EXISTS or a negative KMES_ERR_*.
 */
int ks_store_add_key(struct ks_store *s, const char *label,
    const struct ks_key *key, uint32_t flags)
    __attribute__((warn_unused_result));

/*
 * As ks_store_add_key, with the record's PKCS#11 CKA_ID (1 to
 * KS_STORE_CKAID_MAX bytes; NULL and 0 for none), which must be unique
 * in the store too. Returns 0, KMES_ERR_EXISTS (label or ID taken) or a
 * negative KMES_ERR_*.
 */
int ks_store_add_key_id(struct ks_store *s, const char *label,
    const struct ks_key *key, uint32_t flags, const uint8_t *ckaid,
    size_t ckaid_len) __attribute__((warn_unused_result));

/* Index of the record whose CKA_ID is the len bytes at id, or -1. */
long ks_store_find_ckaid(const struct ks_store *s, const uint8_t *id,
    size_t len);

/*
 * Gives the record with label a new label (new_label, NULL to keep it)
 * and/or CKA_ID (ckaid, NULL to keep it), each unique in the store; the
 * private key is sealed again under its new metadata. Needs a login.
 * Returns 0, KMES_ERR_KEY_NOT_FOUND, KMES_ERR_EXISTS or a negative
 * KMES_ERR_*.
 */
int ks_store_set_meta(struct ks_store *s, const char *label,
    const char *new_label, const uint8_t *ckaid, size_t ckaid_len)
    __attribute__((warn_unused_result));

/* Deletes the record with label. Needs a login. */
int ks_store_delete_key(struct ks_store *s, const char *label)
    __attribute__((warn_unused_result));

/* Re-wraps the data key under a new user PIN (needs a user login), or,
 * after an SO login, under a new user PIN with the counter reset
 * (unblock). Returns 0 or a negative KMES_ERR_*. */
int ks_store_set_pin(struct ks_store *s, const uint8_t *new_pin,
    size_t new_pinlen) __attribute__((warn_unused_result));
/* Re-wraps the data key under a new SO PIN and clears the SO failure
 * count; needs a login (kmes-keytool asks the current SO PIN). Returns 0
 * or a negative KMES_ERR_*. */
int ks_store_set_so_pin(struct ks_store *s, const uint8_t *new_pin,
    size_t new_pinlen) __attribute__((warn_unused_result));

/*
 * Decrypts and checks every record and the whole-store MAC. Needs a login.
 * Returns 0 if the store is intact, else KMES_ERR_STORE_CORRUPT (with the
 * index of the first bad record in *bad, -1 for the header/MAC).
 */
int ks_store_verify(const struct ks_store *s, long *bad)
    __attribute__((warn_unused_result));

/* Additions (append-only). */

/* Consecutive failed SO logins (the SO PIN locks at KS_STORE_MAX_TRIES). */
uint32_t ks_store_so_pin_failures(const struct ks_store *s);

/*
 * User-PIN attempts marked in flight when the file was last read (each
 * becomes a failure if its process dies before it ends).
 */
unsigned int ks_store_pin_in_flight(const struct ks_store *s);

/* What ks_store_recover did. */
struct ks_recover_stats {
	size_t kept;	 /* authentic records from PATH */
	size_t restored; /* records taken from the backup PATH.1 */
	size_t lost;	 /* records found in neither */
	int from_backup; /* PATH was unusable: the PIN opened PATH.1 */
};

/*
 * Called by ks_store_recover for each record of PATH it could not keep:
 * index in PATH, its label (NULL when unreadable), and whether the backup
 * supplied it instead (restored = 1) or it is lost.
 */
typedef void ks_recover_fn(void *arg, long index, const char *label,
    int restored);

/*
 * Salvages the store at path into a new store file out (refused with
 * KMES_ERR_EXISTS if out exists; path itself is never written but for its
 * failure counter): every record whose own AEAD tag verifies under the data
 * key, which the user PIN must unwrap (a counted try). Records that fail
 * are taken from the backup PATH.1 when it holds them; when PATH itself is
 * unusable, the PIN opens PATH.1 and its records are kept too. report (may
 * be NULL) hears of each record not kept from PATH. Returns 0,
 * KMES_ERR_PIN_INCORRECT, KMES_ERR_PIN_LOCKED, KMES_ERR_STORE_CORRUPT
 * (neither file usable) or another negative KMES_ERR_*.
 */
int ks_store_recover(const char *path, const uint8_t *pin, size_t pinlen,
    const char *out, ks_recover_fn *report, void *arg,
    struct ks_recover_stats *stats) __attribute__((warn_unused_result));

#endif /* KMES_STORE_H */
