/*
 * store-login.c: PIN checks against the key store: how each try is
 * counted so that a kill costs it, right PINs in flight never block, and a
 * damaged file is never taken for a wrong PIN (kmes-keystore(5), LOCKOUT).
 * The files and sessions are store.c's.
 */
#include <sys/stat.h>

#include <stdlib.h>
#include <unistd.h>

#include "crypto.h"
#include "kbuf.h"
#include "kmes-err.h"
#include "secmem.h"
#include "store-int.h"
#include "store.h"

/*
 * How a try is counted (kmes-keystore(5), "how the counter stays
 * crash-safe"). Before its KDF, an attempt takes one of KS_STORE_SLOTS
 * slots: under the writers' lock it marks the slot in the file's in-flight
 * mask (fsynced) and holds an OFD byte lock on that slot in PATH.slots.
 * Afterwards, again under the lock, it clears its mark and either adds one
 * failure (wrong PIN), zeroes the counter (right PIN, file intact) or
 * changes nothing (the file is damaged, or no KDF ran). A mark whose byte
 * lock nobody holds belongs to a process that died in its KDF: whoever
 * next holds the writers' lock turns it into a failure, so kill -9 buys no
 * free guess. An attempt starts only while failures plus attempts in
 * flight stay under the limit, so parallel guessing cannot overshoot it,
 * and right PINs in flight are never counted as failures: only wrong ones
 * (or killed ones) can ever block the PIN.
 */
enum attempt_outcome {
	ATTEMPT_WRONG, /* a guess: counts */
	ATTEMPT_GOOD,  /* right PIN on an intact file: resets */
	ATTEMPT_VOID,  /* damage or no KDF: not a guess, changes nothing */
};

/* Turns marks of dead attempts into failures; skips slot own. */
static int
reap_slots(struct ks_image *img, int slotfd, int own, int *dirty)
{
	unsigned int i, role;
	int held;

	for (role = KS_ROLE_USER; role <= KS_ROLE_SO; role++) {
		for (i = 0; i < KS_STORE_SLOTS; i++) {
			if ((img->inflight & KS_SLOT_BIT(role, i)) == 0 ||
			    (int)i == own)
				continue;
			if ((held = ks_slot_held(slotfd, i)) < 0)
				return held;
			if (held)
				continue;
			img->inflight &= ~KS_SLOT_BIT(role, i);
			if (img->failures[role] < KS_STORE_MAX_TRIES)
				img->failures[role]++;
			*dirty = 1;
		}
	}
	return 0;
}

/*
 * One pass under the lock: takes a free slot for role (*slotp, 0), or says
 * which slot to wait for (*waitp, KMES_ERR_LOCKED), or KMES_ERR_PIN_LOCKED.
 */
static int
try_take_slot(struct ks_image *img, enum ks_role role, int slotfd,
    unsigned int *slotp, unsigned int *waitp)
{
	uint32_t used = img->inflight | img->inflight >> 8;
	unsigned int i;
	int r;

	*waitp = KS_STORE_SLOTS;
	if (img->failures[role] >= KS_STORE_MAX_TRIES)
		return KMES_ERR_PIN_LOCKED;
	if (img->failures[role] + ks_image_inflight(img, role) >=
	    KS_STORE_MAX_TRIES) {
		/* Any of ours in flight may yet fail: wait for one. */
		for (i = 0; i < KS_STORE_SLOTS; i++) {
			if ((img->inflight & KS_SLOT_BIT(role, i)) != 0) {
				*waitp = i;
				break;
			}
		}
		return KMES_ERR_LOCKED;
	}
	for (i = 0; i < KS_STORE_SLOTS; i++) {
		if ((used & (1u << i)) != 0) {
			*waitp = i;
			continue;
		}
		/* Unmarked but locked: its owner is just letting go. */
		if ((r = ks_slot_lock(slotfd, i, 0)) == KMES_ERR_LOCKED) {
			*waitp = i;
			continue;
		}
		if (r != 0)
			return r;
		img->inflight |= KS_SLOT_BIT(role, i);
		*slotp = i;
		return 0;
	}
	return KMES_ERR_LOCKED;
}

/*
 * Takes a slot for one PIN attempt (see above); *imgp gets the file as it
 * was then, the image the PIN is checked against. Returns 0,
 * KMES_ERR_PIN_LOCKED or another negative KMES_ERR_*.
 */
static int
attempt_begin(struct ks_store *s, enum ks_role role, int slotfd,
    unsigned int *slotp, struct ks_image **imgp)
{
	struct ks_image *img = NULL;
	struct stat st;
	unsigned int slot = 0, wait_on;
	int lockfd = -1, dirty, r, rc;

	*imgp = NULL;
	for (;;) {
		dirty = 0;
		if ((r = ks_file_lock(&s->f, &lockfd)) != 0 ||
		    (r = ks_store_reload(s, NULL, &img, &st)) != 0 ||
		    (r = reap_slots(img, slotfd, -1, &dirty)) != 0)
			goto out;
		r = try_take_slot(img, role, slotfd, &slot, &wait_on);
		/* A logged-in handle keeps only what its key checks. */
		if ((r == 0 || dirty) &&
		    (rc = ks_store_commit(s, img, &st, s->sec == NULL, 0)) !=
			0) {
			if (r == 0)
				ks_slot_unlock(slotfd, slot);
			r = rc;
			goto out;
		}
		if (r != KMES_ERR_LOCKED)
			break;
		ks_image_free(img);
		img = NULL;
		ks_file_unlock(lockfd);
		lockfd = -1;
		if (wait_on >= KS_STORE_SLOTS) {
			r = KMES_ERR_INVALID_FORMAT; /* cannot happen */
			goto out;
		}
		/* Blocks until that attempt ends (or its process dies). */
		if ((r = ks_slot_lock(slotfd, wait_on, 1)) != 0)
			goto out;
		ks_slot_unlock(slotfd, wait_on);
	}
	if (r != 0)
		goto out;
	*slotp = slot;
	*imgp = img;
	img = NULL;
out:
	ks_image_free(img);
	ks_file_unlock(lockfd);
	return r;
}

/*
 * Settles the attempt in slot under the lock. For a good outcome the file
 * is re-read and its MAC checked again with sec before the counter is
 * reset and the image installed: a file swapped in during the KDF is never
 * taken on trust. Sets *damaged if that check fails. Returns 0 or a
 * negative KMES_ERR_* (the slot's mark is then left for the next reader to
 * count as a failure).
 */
static int
attempt_end(struct ks_store *s, enum ks_role role, int slotfd,
    unsigned int slot, enum attempt_outcome o, const struct ks_secrets *sec,
    int *damaged)
{
	struct ks_image *img = NULL;
	struct stat st;
	int lockfd = -1, dirty = 0, keep, good = 0, r;

	if ((r = ks_file_lock(&s->f, &lockfd)) != 0 ||
	    (r = ks_store_reload(s, NULL, &img, &st)) != 0 ||
	    (r = reap_slots(img, slotfd, (int)slot, &dirty)) != 0)
		goto out;
	img->inflight &= ~KS_SLOT_BIT(role, slot);
	keep = s->sec == NULL;
	if (o == ATTEMPT_GOOD) {
		if (ks_image_check_mac(img, sec) == 0) {
			img->failures[role] = 0;
			keep = good = 1;
		} else {
			*damaged = 1;
			keep = 0;
		}
	} else if (o == ATTEMPT_WRONG &&
	    img->failures[role] < KS_STORE_MAX_TRIES)
		img->failures[role]++;
	if (!keep && s->sec != NULL)
		keep = ks_image_check_mac(img, s->sec) == 0;
	r = ks_store_commit(s, img, &st, keep, good);
out:
	ks_image_free(img);
	ks_file_unlock(lockfd);
	return r;
}

void
ks_store_logout(struct ks_store *s)
{
	if (s == NULL)
		return;
	kmes_secure_free(s->sec);
	s->sec = NULL;
}

/*
 * Checks pin for role, counted as above: slot, KDF, key unwrap, the file's
 * MAC, settle. Returns 0 with the derived secrets in *secp (secure memory)
 * and, if imgp is not NULL, the image they were checked against in *imgp;
 * *damaged is set when the PIN was right but the file failed its MAC (then
 * 0 is returned only if salvage is set, else KMES_ERR_STORE_CORRUPT).
 * Returns KMES_ERR_PIN_INCORRECT, KMES_ERR_PIN_LOCKED or another negative
 * KMES_ERR_* otherwise.
 */
static int
open_secrets(struct ks_store *s, enum ks_role role, const uint8_t *pin,
    size_t pinlen, int salvage, struct ks_secrets **secp,
    struct ks_image **imgp, int *damaged)
{
	struct ks_secrets *sec = NULL;
	struct ks_image *img = NULL;
	enum attempt_outcome o = ATTEMPT_VOID;
	unsigned int slot = 0;
	int slotfd = -1, r, r2;

	*secp = NULL;
	if (imgp != NULL)
		*imgp = NULL;
	*damaged = 0;
	if ((sec = kmes_secure_alloc(sizeof(*sec))) == NULL)
		return KMES_ERR_ALLOC;
	if ((r = ks_slots_open(&s->f, &slotfd)) != 0 ||
	    (r = attempt_begin(s, role, slotfd, &slot, &img)) != 0)
		goto out;
	r = ks_wrap_open(img, role, pin, pinlen, sec->dk);
	if (r == KMES_ERR_PIN_INCORRECT)
		o = ATTEMPT_WRONG;
	else if (r == 0 && (r = ks_secrets_derive(sec)) == 0) {
		/*
		 * The PIN opened the data key, so it is right: a MAC failure
		 * now is damage (or tampering), never a wrong guess.
		 */
		if (ks_image_check_mac(img, sec) == 0)
			o = ATTEMPT_GOOD;
		else
			*damaged = 1;
	}
	r2 = attempt_end(s, role, slotfd, slot, o, sec, damaged);
	if (r == 0)
		r = r2;
	if (r == 0 && *damaged && !salvage)
		r = KMES_ERR_STORE_CORRUPT;
	if (r != 0)
		goto out;
	*secp = sec;
	sec = NULL;
	if (imgp != NULL) {
		*imgp = img;
		img = NULL;
	}
out:
	if (slotfd != -1)
		close(slotfd); /* drops the slot's lock */
	ks_image_free(img);
	kmes_secure_free(sec);
	return r;
}

int
ks_store_login(struct ks_store *s, int so, const uint8_t *pin, size_t pinlen,
    unsigned int *tries_left)
{
	enum ks_role role = so ? KS_ROLE_SO : KS_ROLE_USER;
	struct ks_secrets *sec = NULL;
	int damaged, r;

	/* The contract reports tries left on failure too. */
	if (tries_left != NULL)
		*tries_left = 0;
	if (s == NULL || (so != 0 && so != 1) || !ks_pin_valid(pin, pinlen))
		return KMES_ERR_INVALID_ARGUMENT;
	ks_store_logout(s);
	if ((r = open_secrets(s, role, pin, pinlen, 0, &sec, NULL, &damaged)) ==
	    0)
		s->sec = sec;
	if (tries_left != NULL)
		*tries_left = KS_STORE_MAX_TRIES -
		    s->img->failures[KS_ROLE_USER];
	return r;
}

int
ks_store_salvage_login(struct ks_store *s, const uint8_t *pin, size_t pinlen,
    struct ks_secrets **secp, struct ks_image **imgp, int *damaged)
{
	*secp = NULL;
	*imgp = NULL;
	*damaged = 0;
	if (s == NULL || !ks_pin_valid(pin, pinlen))
		return KMES_ERR_INVALID_ARGUMENT;
	ks_store_logout(s);
	return open_secrets(s, KS_ROLE_USER, pin, pinlen, 1, secp, imgp,
	    damaged);
}

int
ks_store_check_pin(struct ks_store *s, const uint8_t *pin, size_t pinlen,
    unsigned int *tries_left)
{
	struct ks_secrets *sec = NULL;
	int damaged, r;

	if (tries_left != NULL)
		*tries_left = 0;
	if (s == NULL || !ks_pin_valid(pin, pinlen))
		return KMES_ERR_INVALID_ARGUMENT;
	/* Counted like a login: guessing here is guessing the PIN. */
	r = open_secrets(s, KS_ROLE_USER, pin, pinlen, 0, &sec, NULL, &damaged);
	kmes_secure_free(sec);
	if (tries_left != NULL)
		*tries_left = KS_STORE_MAX_TRIES -
		    s->img->failures[KS_ROLE_USER];
	return r;
}
