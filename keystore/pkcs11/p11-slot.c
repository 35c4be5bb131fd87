/*
 * p11-slot.c: what libkmes-pkcs11.so says about its one slot before any
 * session: the slot list, slot and token information (the store's label,
 * ID and PIN state) and the mechanisms it offers.
 */
#include <stdio.h>
#include <string.h>

#include "kmes-err.h"
#include "p11-entry.h"
#include "p11.h"
#include "store.h"

CK_RV
p11_C_GetSlotList(CK_BBOOL present, CK_SLOT_ID_PTR list, CK_ULONG_PTR count)
{
	CK_ULONG n;
	CK_RV rv = CKR_OK;

	P11_ENTER(p11_check_init(count == NULL));
	(void)p11_sync();
	n = present && p11.store == NULL ? 0 : 1;
	if (list != NULL && *count < n)
		rv = CKR_BUFFER_TOO_SMALL;
	else if (list != NULL && n == 1)
		list[0] = P11_SLOT_ID;
	*count = n;
	return p11_leave_with(rv);
}

CK_RV
p11_C_GetSlotInfo(CK_SLOT_ID slot, CK_SLOT_INFO_PTR info)
{
	P11_ENTER(p11_check_slot(slot, info == NULL));
	(void)p11_sync();
	memset(info, 0, sizeof(*info));
	p11_pad(info->slotDescription, sizeof(info->slotDescription),
	    "kmes key store");
	p11_pad(info->manufacturerID, sizeof(info->manufacturerID),
	    "kmes-agent");
	info->flags = p11.store != NULL ? CKF_TOKEN_PRESENT : 0;
	info->hardwareVersion.major = 0;
	info->firmwareVersion.major = 0;
	return p11_leave_with(CKR_OK);
}

static CK_FLAGS
pin_flags(void)
{
	uint32_t failures = ks_store_pin_failures(p11.store);

	if (ks_store_pin_blocked(p11.store))
		return CKF_USER_PIN_LOCKED;
	if (failures + 1 == KS_STORE_MAX_TRIES)
		return CKF_USER_PIN_COUNT_LOW | CKF_USER_PIN_FINAL_TRY;
	if (failures > 0)
		return CKF_USER_PIN_COUNT_LOW;
	return 0;
}

CK_RV
p11_C_GetTokenInfo(CK_SLOT_ID slot, CK_TOKEN_INFO_PTR info)
{
	const uint8_t *id;
	char serial[17];
	size_t i, rw = 0;

	P11_ENTER(p11_check_slot(slot, info == NULL));
	(void)p11_sync();
	if (p11.store == NULL)
		return p11_leave_with(CKR_TOKEN_NOT_PRESENT);
	memset(info, 0, sizeof(*info));
	p11_pad(info->label, sizeof(info->label), ks_store_label(p11.store));
	p11_pad(info->manufacturerID, sizeof(info->manufacturerID),
	    "kmes-agent");
	p11_pad(info->model, sizeof(info->model), "kmes key store");
	id = ks_store_id(p11.store);
	for (i = 0; i < 8; i++)
		(void)snprintf(serial + 2 * i, 3, "%02x", id[i]);
	p11_pad(info->serialNumber, sizeof(info->serialNumber), serial);
	info->flags = CKF_TOKEN_INITIALIZED | CKF_LOGIN_REQUIRED |
	    CKF_USER_PIN_INITIALIZED | CKF_RNG | pin_flags();
	for (i = 0; i < p11.nsessions; i++)
		rw += (p11.sessions[i]->flags & CKF_RW_SESSION) != 0;
	info->ulMaxSessionCount = P11_MAX_SESSIONS;
	info->ulSessionCount = p11.nsessions;
	info->ulMaxRwSessionCount = P11_MAX_SESSIONS;
	info->ulRwSessionCount = rw;
	info->ulMaxPinLen = KS_STORE_PIN_MAX;
	info->ulMinPinLen = KS_STORE_PIN_MIN;
	info->ulTotalPublicMemory = CK_UNAVAILABLE_INFORMATION;
	info->ulFreePublicMemory = CK_UNAVAILABLE_INFORMATION;
	info->ulTotalPrivateMemory = CK_UNAVAILABLE_INFORMATION;
	info->ulFreePrivateMemory = CK_UNAVAILABLE_INFORMATION;
	info->hardwareVersion.major = 0;
	info->firmwareVersion.major = 0;
	p11_pad(info->utcTime, sizeof(info->utcTime), NULL);
	return p11_leave_with(CKR_OK);
}

CK_RV
p11_C_GetMechanismList(CK_SLOT_ID slot, CK_MECHANISM_TYPE_PTR list,
    CK_ULONG_PTR count)
{
	size_t i;
	CK_RV rv = CKR_OK;

	P11_ENTER(p11_check_slot(slot, count == NULL));
	if (list != NULL && *count < p11_nmechs)
		rv = CKR_BUFFER_TOO_SMALL;
	else if (list != NULL) {
		for (i = 0; i < p11_nmechs; i++)
			list[i] = p11_mechs[i].type;
	}
	*count = p11_nmechs;
	return p11_leave_with(rv);
}

CK_RV
p11_C_GetMechanismInfo(CK_SLOT_ID slot, CK_MECHANISM_TYPE type,
    CK_MECHANISM_INFO_PTR info)
{
	size_t i;

	P11_ENTER(p11_check_slot(slot, info == NULL));
	for (i = 0; i < p11_nmechs; i++) {
		if (p11_mechs[i].type != type)
			continue;
		info->ulMinKeySize = p11_mechs[i].min_bits;
		info->ulMaxKeySize = p11_mechs[i].max_bits;
		info->flags = p11_mechs[i].flags;
		return p11_leave_with(CKR_OK);
	}
	return p11_leave_with(CKR_MECHANISM_INVALID);
}
