#!/usr/bin/env bash
# System packages the tests and the demo need, from Debian's archive. Idempotent: installs only
# what is missing. PostgreSQL server (integration tests on both backends), zbar (QR decoding
# cross-check), poppler (PDF to text/PNG), Chromium (browser tests), a CJK font (PDFs, screenshots).
set -euo pipefail

need=()
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
command -v zbarimg >/dev/null 2>&1 || need+=(zbar-tools)
command -v pdftoppm >/dev/null 2>&1 || need+=(poppler-utils)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
dpkg -s fonts-noto-cjk >/dev/null 2>&1 || need+=(fonts-noto-cjk)
# poppler's CJK character collections: certificates use the non-embedded STSong-Light CID font
dpkg -s poppler-data >/dev/null 2>&1 || need+=(poppler-data)
command -v runuser >/dev/null 2>&1 || need+=(util-linux)
command -v npm >/dev/null 2>&1 || need+=(npm)  # axe-core for the accessibility checks
# Java 17 for PySpark: the certification rules run on DuckDB and Spark and are compared
command -v java >/dev/null 2>&1 || need+=(openjdk-17-jre-headless)

if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
echo "installing system packages: ${need[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
