"""Demo data of benefit disbursement (一卡通发): this month's basic-pension batch of the demo city
run through the whole cycle by two clerks, as a city's social insurance bureau does it.

The maker (``clerk-demo``) draws the batch up and the month's appropriation funds the budget;
the checker (``clerk-demo-2``) approves it (maker–checker) and exports the bank file; the bank's
return file comes back with every line paid but one, whose account was closed; the batch then
reconciles to the fen. The pensioners are the certification demo's (a suspended or stopped
pension is left out by the batch itself), so this seeder runs after it. Loading twice adds
nothing.
"""

from __future__ import annotations

import csv
import io
import random

from yikatong.benefits import service as benefits
from yikatong.certification.demo import PROGRAMME
from yikatong.core import clock
from yikatong.core.errors import NotFound
from yikatong.node import Node

MAKER = "clerk-demo"
CHECKER = "clerk-demo-2"
RETURN_HEADER = "line_id,amount_fen,status,bank_reference,reason"


def seed_demo(node: Node, rng: random.Random) -> dict[str, int]:
    month = clock.today().replace(day=1)
    with node.transaction() as session:
        try:
            programme = benefits.get_programme_by_code(session, PROGRAMME)
        except NotFound:
            return {"batches": 0}
        batches = benefits.list_batches(session, programme_id=programme.id)
        if batches or month.month not in programme.pay_months:
            return {"batches": len(batches)}
        programme_id = programme.id
    with node.transaction() as session:
        batch = benefits.generate_batch(session, programme_id, month, actor=MAKER)
        benefits.fund_programme(
            session,
            programme_id,
            amount=batch.total,
            reference=f"CZ-{month:%Y%m}-PENSION",
            actor=MAKER,
        )
        batch_id = batch.id
    with node.transaction() as session:
        benefits.approve_batch(session, batch_id, actor=CHECKER)
    with node.transaction() as session:
        bank_file = benefits.export_bank_file(session, batch_id, actor=CHECKER)
    lines = [row for row in csv.reader(io.StringIO(bank_file.text)) if row[0] == "D"]
    closed = rng.choice(lines)[1]
    answer = [RETURN_HEADER]
    for _, line_id, _name, _account, amount, _reference in lines:
        if line_id == closed:
            answer.append(f"{line_id},{amount},failed,,account closed 账户已销户")
        else:
            answer.append(f"{line_id},{amount},paid,CB{month:%Y%m}{int(line_id):08d},")
    with node.transaction() as session:
        outcome = benefits.import_return_file(
            session, batch_id, "\n".join(answer) + "\n", actor=CHECKER
        )
        report = benefits.reconcile_batch(session, batch_id)
    return {
        "batches": 1,
        "lines": bank_file.count,
        "paid": outcome.paid,
        "failed": outcome.failed,
        "total_fen": int(bank_file.total),
        "balanced": int(report.balanced),
    }
