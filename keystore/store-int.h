/*
 * store-int.h: the seam between store.c (files, locks, sessions) and
 * store-format.c (the byte format and its cryptography). Private to
 * keystore/; the format is described byte by byte in kmes-keystore(5).
 */
#ifndef KMES_STORE_INT_H
#define KMES_STORE_INT_H

#include <sys/stat.h>

#include <stddef.h>
#include <stdint.h>

#include "crypto.h"
#include "store.h"

struct kbuf;

#define KS_STORE_MAGIC "KMESKEYS"
#define KS_STORE_MAGIC_LEN 8
#define KS_STORE_VERSION 3 /* written; versions 1 and 2 are still read */
#define KS_STORE_VERSION_1 1
#define KS_STORE_VERSION_2 2

/* Byte offset of the two failure counters (outside the MAC). */
#define KS_STORE_FAILURES_OFFSET 12
/* Versions 2 and 3: the in-flight slot mask follows the counters. */
#define KS_STORE_INFLIGHT_OFFSET 20

/*
 * PIN attempts that may run their KDF at once (per store, all roles): each
 * holds one slot, marked in the file and locked in PATH.slots.
 */
#define KS_STORE_SLOTS 8
/* Slot i of role r is bit (r * 8 + i) of the in-flight mask. */
#define KS_SLOT_BIT(role, i) ((uint32_t)1 << ((unsigned int)(role)*8 + (i)))
#define KS_SLOTS_ROLE_MASK(role) ((uint32_t)0xff << ((unsigned int)(role)*8))

/* Versions 2 and 3 end with a PIN-independent checksum of all before it. */
#define KS_STORE_CHECKSUM_LEN 32

/* Caps on what a store file may claim, checked before anything is kept. */
#define KS_STORE_FILE_MAX (16 * 1024 * 1024)
#define KS_STORE_MAX_RECORDS 1024
#define KS_STORE_TYPE_MAX 64
#define KS_STORE_BLOB_MAX (64 * 1024)
#define KS_STORE_PRIV_MAX (64 * 1024)

#define KS_STORE_SALT_LEN 16
#define KS_STORE_DK_LEN 32

/* Default scrypt cost: about 0.5 s and 128 MiB per PIN check. */
#define KS_STORE_KDF_LOG2_N 17
#define KS_STORE_KDF_R 8
#define KS_STORE_KDF_P 1

/*
 * Domain separation: no value is ever valid in two roles. One list, so
 * that no two roles can come to share a string.
 */
#define KS_CTX_WRAP "kmes-keystore/1 data-key"
#define KS_CTX_RECORD "kmes-keystore/1 record"
#define KS_CTX_REK "kmes-keystore/1 record-key"
#define KS_CTX_MK "kmes-keystore/1 store-mac"
#define KS_CTX_SUM "kmes-keystore/2 checksum"

enum ks_role {
	KS_ROLE_USER = 0,
	KS_ROLE_SO = 1,
};

/* The data key wrapped under one PIN. */
struct ks_wrap {
	uint8_t salt[KS_STORE_SALT_LEN];
	uint8_t nonce[KS_AEAD_NONCE_LEN];
	uint8_t ct[KS_STORE_DK_LEN];
	uint8_t tag[KS_AEAD_TAG_LEN];
};

/* One key: public metadata in the clear, the private key sealed. */
struct ks_record {
	char *label;
	char *type;
	uint8_t *blob;
	size_t blob_len;
	uint32_t flags;
	uint64_t created;
	uint8_t *ckaid;	  /* version 3: the PKCS#11 CKA_ID, or NULL */
	size_t ckaid_len; /* 0 (none) to KS_STORE_CKAID_MAX */
	uint8_t nonce[KS_AEAD_NONCE_LEN];
	uint8_t *sealed; /* ciphertext || tag */
	size_t sealed_len;
};

/* A parsed store file (public data only). */
struct ks_image {
	uint32_t version;     /* as read; written as KS_STORE_VERSION */
	uint32_t failures[2]; /* indexed by enum ks_role */
	uint32_t inflight;    /* KS_SLOT_BIT()s of attempts in their KDF */
	uint8_t id[KS_STORE_ID_LEN];
	struct ks_store_kdf kdf;
	struct ks_wrap wrap[2]; /* indexed by enum ks_role */
	uint64_t generation;
	char *label;
	struct ks_record *recs;
	size_t nrecs;
	uint8_t mac[KS_HMAC_SHA256_LEN];
};

/* The data key and the keys derived from it; lives in kmes_secure_alloc. */
struct ks_secrets {
	uint8_t dk[KS_STORE_DK_LEN];
	uint8_t rek[KS_AEAD_KEY_LEN];	/* seals records */
	uint8_t mk[KS_HMAC_SHA256_LEN]; /* whole-store MAC */
};

/* Returns 1 if the scrypt parameters are within bounds (log2_n != 0). */
int ks_kdf_valid(const struct ks_store_kdf *kdf);

/* Returns 1 if s (len bytes) is a usable label: no control bytes. */
int ks_label_valid(const char *s, size_t len, size_t min);

/*
 * Parses a whole store file strictly. Returns 0, KMES_ERR_STORE_CORRUPT or
 * KMES_ERR_ALLOC.
 */
int ks_image_parse(const struct kbuf *file, struct ks_image **imgp)
    __attribute__((warn_unused_result));

/*
 * Salvage parse of a file that failed ks_image_parse: the checksum is
 * ignored and records are kept up to the first one that does not parse;
 * *claimedp says how many the file claimed. Nothing in the result is
 * authentic until each record's own AEAD tag is checked. Returns 0,
 * KMES_ERR_STORE_CORRUPT (the header is unusable) or KMES_ERR_ALLOC.
 */
int ks_image_parse_salvage(const struct kbuf *file, struct ks_image **imgp,
    size_t *claimedp) __attribute__((warn_unused_result));

/* Returns the number of slots of role marked in flight in img. */
unsigned int ks_image_inflight(const struct ks_image *img, enum ks_role role);

/* Appends the store file for img (with img->mac). Returns 0 or KMES_ERR_*. */
int ks_image_encode(const struct ks_image *img, struct kbuf *b)
    __attribute__((warn_unused_result));

/* Returns a deep copy of img in *copyp, or a negative KMES_ERR_*. */
int ks_image_dup(const struct ks_image *img, struct ks_image **copyp)
    __attribute__((warn_unused_result));

void ks_image_free(struct ks_image *img);

/* Index of the record whose CKA_ID is the len bytes at id, or -1. */
long ks_image_find_ckaid(const struct ks_image *img, const uint8_t *id,
    size_t len);

/* Index of the record labelled label, or -1. */
long ks_image_find(const struct ks_image *img, const char *label);

/* Appends *rec (taking what it owns). Returns 0 or a negative KMES_ERR_*. */
int ks_image_append(struct ks_image *img, struct ks_record *rec)
    __attribute__((warn_unused_result));

/* Removes and frees record i. */
void ks_image_remove(struct ks_image *img, size_t i);

void ks_record_clear(struct ks_record *rec);

/* Deep-copies src into dst (cleared first). Returns 0 or KMES_ERR_ALLOC. */
int ks_record_copy(const struct ks_record *src, struct ks_record *dst)
    __attribute__((warn_unused_result));

/*
 * Recomputes the checksum at the end of a version 2 file in place (for
 * tests and fuzz seeds that edit bytes on purpose). Returns 0 or KMES_ERR_*.
 */
int ks_file_seal_checksum(uint8_t *file, size_t len)
    __attribute__((warn_unused_result));

/* Recomputes img->mac. Returns 0 or a negative KMES_ERR_*. */
int ks_image_set_mac(struct ks_image *img, const struct ks_secrets *sec)
    __attribute__((warn_unused_result));

/* Returns 0 if img->mac is right, else KMES_ERR_STORE_CORRUPT or KMES_ERR_*. */
int ks_image_check_mac(const struct ks_image *img, const struct ks_secrets *sec)
    __attribute__((warn_unused_result));

/* store-seal.c: the data key, its wraps, the sealed records. */

/* Derives sec->rek and sec->mk from sec->dk. Returns 0 or KMES_ERR_*. */
int ks_secrets_derive(struct ks_secrets *sec)
    __attribute__((warn_unused_result));

/*
 * Wraps dk under pin for role into *w (new salt and nonce; img supplies the
 * store id and KDF cost). Returns 0 or a negative KMES_ERR_*.
 */
int ks_wrap_seal(const struct ks_image *img, enum ks_role role,
    const uint8_t *pin, size_t pinlen, const uint8_t *dk, struct ks_wrap *w)
    __attribute__((warn_unused_result));

/*
 * Unwraps the data key for role into dk. Returns 0, KMES_ERR_PIN_INCORRECT
 * or another negative KMES_ERR_*.
 */
int ks_wrap_open(const struct ks_image *img, enum ks_role role,
    const uint8_t *pin, size_t pinlen, uint8_t *dk)
    __attribute__((warn_unused_result));

/*
 * Seals key's private half into rec, whose label, type, blob, flags and
 * created must already be set. Returns 0 or a negative KMES_ERR_*.
 */
int ks_record_seal(const struct ks_image *img, const struct ks_secrets *sec,
    const struct ks_key *key, struct ks_record *rec)
    __attribute__((warn_unused_result));

/*
 * Opens record i into a private key and checks it against the record's
 * public blob. Returns 0, KMES_ERR_STORE_CORRUPT or another KMES_ERR_*.
 */
int ks_record_open(const struct ks_image *img, const struct ks_secrets *sec,
    size_t i, struct ks_key **keyp) __attribute__((warn_unused_result));

/* store-file.c: the files of one store. */
struct ks_files {
	char *path;
	char *lock;	  /* PATH.lock */
	char *tmp;	  /* PATH.tmp */
	char *slots;	  /* PATH.slots: one OFD byte lock per attempt slot */
	char *backup;	  /* PATH.1: the previous good file */
	char *backup_tmp; /* PATH.1.tmp */
	char *dir;
};

/* Works out the file names for path. Returns 0 or a negative KMES_ERR_*. */
int ks_files_init(const char *path, struct ks_files *f)
    __attribute__((warn_unused_result));
void ks_files_clear(struct ks_files *f);

/* Creates dir and its missing parents with mode 0700. */
int ks_dir_make(const char *dir) __attribute__((warn_unused_result));

/* Refuses (KMES_ERR_DENIED) a directory others may write. */
int ks_dir_check(const char *dir) __attribute__((warn_unused_result));

/*
 * Reads a whole regular file (no symlink, at most KS_STORE_FILE_MAX bytes)
 * and its stat. Returns 0, KMES_ERR_STORE_NOT_FOUND, KMES_ERR_STORE_CORRUPT
 * or another negative KMES_ERR_*.
 */
int ks_file_read(const char *path, struct kbuf **filep, struct stat *stp)
    __attribute__((warn_unused_result));

/*
 * Replaces PATH with data through PATH.tmp (or, if create is set, puts it
 * in place only if PATH does not exist: KMES_ERR_EXISTS). If old is not
 * NULL (the stat of the PATH the caller read and checked under the lock),
 * that file is first kept as PATH.1. The caller holds the lock. *stp gets
 * the new file's stat. Returns 0 or KMES_ERR_*.
 */
int ks_file_replace(const struct ks_files *f, const struct kbuf *data,
    int create, const struct stat *old, struct stat *stp)
    __attribute__((warn_unused_result));

/*
 * Opens PATH.slots for one PIN attempt's byte locks. Returns 0 or a
 * negative KMES_ERR_*.
 */
int ks_slots_open(const struct ks_files *f, int *fdp)
    __attribute__((warn_unused_result));

/*
 * Byte lock on slot i through fd (an OFD lock: per open file, so threads
 * of one process exclude each other too). wait = 0: KMES_ERR_LOCKED if
 * another attempt holds it. Returns 0 or a negative KMES_ERR_*.
 */
int ks_slot_lock(int fd, unsigned int i, int wait)
    __attribute__((warn_unused_result));
void ks_slot_unlock(int fd, unsigned int i);

/* Returns 1 if another open file holds slot i's lock, 0 if not, or a
 * negative KMES_ERR_*. */
int ks_slot_held(int fd, unsigned int i) __attribute__((warn_unused_result));

/* Takes the exclusive writers' lock. Returns 0 or a negative KMES_ERR_*. */
int ks_file_lock(const struct ks_files *f, int *fdp)
    __attribute__((warn_unused_result));

/* Releases a lock from ks_file_lock; accepts -1. */
void ks_file_unlock(int fd);

/* Returns 1 if a and b describe the same, unchanged file. */
int ks_file_same(const struct stat *a, const struct stat *b);

/* store.c, for store-login.c and store-recover.c. */

/* An open store: its files, the image last read, and a login's secrets. */
struct ks_store {
	struct ks_files f;
	struct ks_image *img;
	struct stat st;		/* the file img was read from */
	struct ks_secrets *sec; /* NULL unless logged in */
	int no_backup;		/* this handle is on PATH.1 itself */
};

/* Returns 1 if pin has a length the store takes. */
int ks_pin_valid(const uint8_t *pin, size_t pinlen);

/*
 * Reads PATH as it is now: it must be the same store (same id) and, if
 * sec is given, carry a MAC made with that data key. Returns 0 or a
 * negative KMES_ERR_*.
 */
int ks_store_reload(const struct ks_store *s, const struct ks_secrets *sec,
    struct ks_image **imgp, struct stat *stp)
    __attribute__((warn_unused_result));

/*
 * Writes img as PATH (lock held) and, if keep is set, makes a copy of it
 * the handle's current image; if good is set, the file it replaces (stat
 * old, MAC-checked under the lock) is kept as PATH.1 first. Returns 0 or
 * a negative KMES_ERR_*.
 */
int ks_store_commit(struct ks_store *s, const struct ks_image *img,
    const struct stat *old, int keep, int good)
    __attribute__((warn_unused_result));

/* The handle's current image (public data; MAC-checked only if logged in). */
const struct ks_image *ks_store_image(const struct ks_store *s);

/*
 * Opens PATH.1, the backup of the store at path, as a handle of its own
 * that shares PATH's lock and slots and is never backed up itself.
 * Returns 0 or a negative KMES_ERR_* (as ks_store_open).
 */
int ks_store_open_backup(const char *path, struct ks_store **sp)
    __attribute__((warn_unused_result));

/*
 * A user-PIN check counted as any other, that also succeeds when the PIN
 * is right but the file fails its MAC (*damaged is then set): *secp gets
 * the data key's secrets and *imgp the image they opened. Leaves the
 * handle logged out. Returns 0, KMES_ERR_PIN_INCORRECT,
 * KMES_ERR_PIN_LOCKED or another negative KMES_ERR_*.
 */
int ks_store_salvage_login(struct ks_store *s, const uint8_t *pin,
    size_t pinlen, struct ks_secrets **secp, struct ks_image **imgp,
    int *damaged) __attribute__((warn_unused_result));

#endif /* KMES_STORE_INT_H */
