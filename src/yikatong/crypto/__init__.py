"""National (SM2/SM3/SM4) and international (Ed25519) cryptography behind one small interface."""
