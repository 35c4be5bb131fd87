#!/usr/bin/python3
# PyKCS11 against libkmes-pkcs11.so: log in, then for every private key
# sign with each mechanism it allows (single- and multi-part) and verify
# the signature with the 'cryptography' package against the public values
# the matching public object reports. Prints one "ok"/"FAIL" line per
# signature; exits 1 if any failed.
#
# usage: pykcs11-sign.py MODULE TOKEN-LABEL PIN

import sys

import PyKCS11
from PyKCS11.LowLevel import CKM_RSA_PKCS_PSS, CKG_MGF1_SHA256
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    Prehashed, encode_dss_signature)

MESSAGE = b"kmes PKCS#11 module, signed through PyKCS11\n" * 40
CURVES = {
    bytes.fromhex("06082a8648ce3d030107"): ec.SECP256R1(),
    bytes.fromhex("06052b81040022"): ec.SECP384R1(),
    bytes.fromhex("06052b81040023"): ec.SECP521R1(),
}
CKK_EC_EDWARDS = 0x40
CKM_EDDSA = 0x1057


def public_key(session, key_id):
    pub = session.findObjects([(PyKCS11.CKA_CLASS, PyKCS11.CKO_PUBLIC_KEY),
                               (PyKCS11.CKA_ID, key_id)])
    if len(pub) != 1:
        raise RuntimeError("no single public object for the key")
    ktype = session.getAttributeValue(pub[0], [PyKCS11.CKA_KEY_TYPE])[0]
    if ktype == PyKCS11.CKK_RSA:
        n, e = session.getAttributeValue(
            pub[0], [PyKCS11.CKA_MODULUS, PyKCS11.CKA_PUBLIC_EXPONENT])
        return rsa.RSAPublicNumbers(int.from_bytes(bytes(e), "big"),
                                    int.from_bytes(bytes(n), "big")
                                    ).public_key()
    params, point = session.getAttributeValue(
        pub[0], [PyKCS11.CKA_EC_PARAMS, PyKCS11.CKA_EC_POINT])
    point = bytes(point)
    # CKA_EC_POINT is a DER OCTET STRING: tag, length (1 or 2 bytes), point.
    raw = point[3:] if point[1] == 0x81 else point[2:]
    if ktype == CKK_EC_EDWARDS:
        return ed25519.Ed25519PublicKey.from_public_bytes(raw)
    return ec.EllipticCurvePublicKey.from_encoded_point(
        CURVES[bytes(params)], raw)


def sign(session, key, mech, multi):
    if not multi:
        return bytes(session.sign(key, MESSAGE, mech))
    # PyKCS11 has no SignUpdate wrapper: use its low-level session calls.
    rv = session.lib.C_SignInit(session.session, mech.to_native(), key)
    if rv != PyKCS11.CKR_OK:
        raise PyKCS11.PyKCS11Error(rv)
    for i in range(0, len(MESSAGE), 100):
        chunk = PyKCS11.ckbytelist(MESSAGE[i:i + 100])
        rv = session.lib.C_SignUpdate(session.session, chunk)
        if rv != PyKCS11.CKR_OK:
            raise PyKCS11.PyKCS11Error(rv)
    out = PyKCS11.ckbytelist()
    rv = session.lib.C_SignFinal(session.session, out)  # size query
    if rv != PyKCS11.CKR_OK:
        raise PyKCS11.PyKCS11Error(rv)
    out = PyKCS11.ckbytelist([0] * len(out))
    rv = session.lib.C_SignFinal(session.session, out)
    if rv != PyKCS11.CKR_OK:
        raise PyKCS11.PyKCS11Error(rv)
    return bytes(out)


def verify(pub, name, sig):
    if isinstance(pub, rsa.RSAPublicKey):
        if name == "SHA256-RSA-PKCS":
            pub.verify(sig, MESSAGE, padding.PKCS1v15(), hashes.SHA256())
        else:
            pub.verify(sig, MESSAGE,
                       padding.PSS(mgf=padding.MGF1(hashes.SHA256()),
                                   salt_length=32), hashes.SHA256())
    elif isinstance(pub, ed25519.Ed25519PublicKey):
        pub.verify(sig, MESSAGE)
    else:
        half = len(sig) // 2
        der = encode_dss_signature(int.from_bytes(sig[:half], "big"),
                                   int.from_bytes(sig[half:], "big"))
        pub.verify(der, MESSAGE, ec.ECDSA(hashes.SHA256()))


def mechanisms(ktype):
    if ktype == PyKCS11.CKK_RSA:
        pss = PyKCS11.RSA_PSS_Mechanism(PyKCS11.CKM_SHA256_RSA_PKCS_PSS,
                                        PyKCS11.CKM_SHA256, CKG_MGF1_SHA256,
                                        32)
        return [("SHA256-RSA-PKCS",
                 PyKCS11.Mechanism(PyKCS11.CKM_SHA256_RSA_PKCS, None), True),
                ("SHA256-RSA-PKCS-PSS", pss, True)]
    if ktype == CKK_EC_EDWARDS:
        return [("EDDSA", PyKCS11.Mechanism(CKM_EDDSA, None), False)]
    return [("ECDSA-SHA256",
             PyKCS11.Mechanism(PyKCS11.CKM_ECDSA_SHA256, None), True)]


def main():
    module, label, pin = sys.argv[1:4]
    lib = PyKCS11.PyKCS11Lib()
    lib.load(module)
    slots = [s for s in lib.getSlotList(tokenPresent=True)
             if lib.getTokenInfo(s).label.strip() == label]
    if len(slots) != 1:
        print("FAIL no single token labelled", label)
        return 1
    session = lib.openSession(slots[0], PyKCS11.CKF_SERIAL_SESSION)
    if session.findObjects([(PyKCS11.CKA_CLASS, PyKCS11.CKO_PRIVATE_KEY)]):
        print("FAIL private objects visible before login")
        return 1
    session.login(pin)
    failed = 0
    keys = session.findObjects([(PyKCS11.CKA_CLASS,
                                 PyKCS11.CKO_PRIVATE_KEY)])
    if not keys:
        print("FAIL no private keys after login")
        return 1
    for key in keys:
        klabel, kid, ktype = session.getAttributeValue(
            key, [PyKCS11.CKA_LABEL, PyKCS11.CKA_ID, PyKCS11.CKA_KEY_TYPE])
        secret = (PyKCS11.CKA_PRIVATE_EXPONENT if ktype == PyKCS11.CKK_RSA
                  else PyKCS11.CKA_VALUE)
        # The raw call: PyKCS11's wrapper turns the code into None.
        tmpl = PyKCS11.LowLevel.ckattrlist(1)
        tmpl[0].SetType(secret)
        rv = session.lib.C_GetAttributeValue(session.session, key, tmpl)
        if rv == PyKCS11.CKR_ATTRIBUTE_SENSITIVE:
            print("ok", klabel, "private value is CKR_ATTRIBUTE_SENSITIVE")
        else:
            print("FAIL", klabel, "private value: rv", hex(rv))
            failed += 1
        pub = public_key(session, kid)
        for name, mech, multi_ok in mechanisms(ktype):
            for multi in ([False, True] if multi_ok else [False]):
                what = "%s %s %s" % (klabel, name,
                                     "multi-part" if multi else "single")
                try:
                    verify(pub, name, sign(session, key, mech, multi))
                    print("ok", what)
                except (PyKCS11.PyKCS11Error, InvalidSignature) as e:
                    print("FAIL", what, repr(e))
                    failed += 1
    session.logout()
    session.closeSession()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
