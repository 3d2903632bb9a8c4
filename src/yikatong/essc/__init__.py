"""Electronic social security card (电子社保卡): app binding, family accounts, signed dynamic QR codes."""
