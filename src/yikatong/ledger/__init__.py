"""Double-entry ledger in integer fen (复式记账): accounts, transfers, holds, statements."""
