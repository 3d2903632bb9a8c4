"""Certificates (电子证明): proof of insurance (参保证明) and contribution details (缴费明细) as
signed PDFs whose QR code anyone can verify online or offline with the city's public key."""
