"""SM2 signature verification through the system's OpenSSL 3 (libcrypto), called with ctypes.

OpenSSL's SM2 verify is about twice as fast as GmSSL's on the same machine, and terminals verify
far more codes than the node signs. ``cryptography`` exposes no SM2 signatures, so the few EVP
calls are bound here. :func:`available` says whether libcrypto 3 with SM2 and SM3 was found;
when it was not, :mod:`yikatong.crypto.sm2` verifies with GmSSL alone.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools

# SubjectPublicKeyInfo of an SM2 key up to the point: SEQ{SEQ{id-ecPublicKey, sm2p256v1},
# BIT STRING 04 ‖ x ‖ y}; the 64 bytes of x ‖ y follow.
_SPKI_PREFIX = bytes.fromhex("3059301306072a8648ce3d020106082a811ccf5501822d03420004")


def _load() -> ctypes.CDLL | None:
    for name in ("libcrypto.so.3", ctypes.util.find_library("crypto")):
        if not name:
            continue
        try:
            lib = ctypes.CDLL(name)
        except OSError:
            continue
        if not hasattr(lib, "EVP_PKEY_CTX_set1_id") or not hasattr(lib, "EVP_sm3"):
            continue
        return lib
    return None


_lib = _load()
_vp = ctypes.c_void_p
if _lib is not None:
    _lib.d2i_PUBKEY.restype = _vp
    _lib.d2i_PUBKEY.argtypes = [_vp, ctypes.POINTER(ctypes.c_char_p), ctypes.c_long]
    _lib.EVP_MD_CTX_new.restype = _vp
    _lib.EVP_MD_CTX_free.argtypes = [_vp]
    _lib.EVP_PKEY_CTX_new.restype = _vp
    _lib.EVP_PKEY_CTX_new.argtypes = [_vp, _vp]
    _lib.EVP_PKEY_CTX_free.argtypes = [_vp]
    _lib.EVP_PKEY_CTX_set1_id.argtypes = [_vp, ctypes.c_char_p, ctypes.c_int]
    _lib.EVP_MD_CTX_set_pkey_ctx.argtypes = [_vp, _vp]
    _lib.EVP_sm3.restype = _vp
    _lib.EVP_DigestVerifyInit.argtypes = [_vp, _vp, _vp, _vp, _vp]
    _lib.EVP_DigestVerify.argtypes = [_vp, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p,
                                      ctypes.c_size_t]  # fmt: skip
    _lib.ERR_clear_error.argtypes = []
    _SM3 = _lib.EVP_sm3()


@functools.lru_cache(maxsize=256)
def _public_key(public_key: bytes) -> int | None:
    """An EVP_PKEY for a 64-byte x ‖ y key, kept for the life of the process (few keys exist)."""
    assert _lib is not None
    der = _SPKI_PREFIX + public_key
    pointer = ctypes.c_char_p(der)
    pkey = _lib.d2i_PUBKEY(None, ctypes.byref(pointer), len(der))
    if not pkey:
        _lib.ERR_clear_error()
        return None
    return int(pkey)


def available() -> bool:
    return _lib is not None


def verify(public_key: bytes, message: bytes, der_signature: bytes, signer_id: bytes) -> bool:
    """SM2 with SM3 and the signer's distinguishing ID; ``False`` for any failure."""
    assert _lib is not None
    pkey = _public_key(public_key)
    if pkey is None:
        return False
    md_ctx = _lib.EVP_MD_CTX_new()
    pkey_ctx = _lib.EVP_PKEY_CTX_new(pkey, None)
    try:
        if not md_ctx or not pkey_ctx:
            raise MemoryError("OpenSSL could not allocate a verification context")
        if _lib.EVP_PKEY_CTX_set1_id(pkey_ctx, signer_id, len(signer_id)) != 1:
            return False
        _lib.EVP_MD_CTX_set_pkey_ctx(md_ctx, pkey_ctx)
        if _lib.EVP_DigestVerifyInit(md_ctx, None, _SM3, None, pkey) != 1:
            return False
        result = _lib.EVP_DigestVerify(
            md_ctx, der_signature, len(der_signature), message, len(message)
        )
        return bool(result == 1)
    finally:
        if md_ctx:
            _lib.EVP_MD_CTX_free(md_ctx)
        if pkey_ctx:
            _lib.EVP_PKEY_CTX_free(pkey_ctx)
        _lib.ERR_clear_error()
