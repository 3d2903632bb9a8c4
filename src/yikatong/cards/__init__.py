"""Social security cards (社会保障卡) and their lifecycle."""
