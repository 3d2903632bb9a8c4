"""``ykt document``: issue to a file, verify offline with the trust list from ``ykt qr trust-list``
and online against the register, revoke."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import Ykt
from tests.integration.documents.conftest import People
from tests.integration.documents.tampering import edit_embedded_content


def test_issue_then_verify_offline_and_online_then_revoke(
    ykt: Ykt, people: People, tmp_path: Path
) -> None:
    person = people.resident()
    out = tmp_path / "proof.pdf"
    issued = ykt(
        "document",
        "issue",
        "--resident",
        str(person.resident_id),
        "--type",
        "proof",
        "--out",
        str(out),
        "--actor",
        "clerk-cli",
    )
    assert issued.exit_code == 0, issued.output
    serial = issued.output.split()[2]
    trust = tmp_path / "trust.json"
    assert ykt("qr", "trust-list", "--out", str(trust)).exit_code == 0
    offline = ykt("document", "verify", str(out), "--trust", str(trust))
    assert offline.exit_code == 0, offline.output
    assert "VALID" in offline.output and serial in offline.output
    online = ykt("document", "verify", str(out))
    assert online.exit_code == 0, online.output
    assert "checked" in online.output
    tampered = tmp_path / "tampered.pdf"
    tampered.write_bytes(edit_embedded_content(out.read_bytes(), "王小明", "赵小明"))
    refused = ykt("document", "verify", str(tampered), "--trust", str(trust))
    assert refused.exit_code == 2
    assert "reason=digest-mismatch" in refused.output
    assert ykt("document", "revoke", serial, "--reason", "重开").exit_code == 0
    revoked = ykt("document", "verify", str(out))
    assert revoked.exit_code == 4
    assert "reason=revoked" in revoked.output
    listed = ykt("document", "list", "--resident", str(person.resident_id))
    assert serial in listed.output


def test_contributions_for_an_unknown_resident_exit_with_not_found(
    ykt: Ykt, tmp_path: Path
) -> None:
    result = ykt(
        "document",
        "issue",
        "--resident",
        "999",
        "--type",
        "contributions",
        "--out",
        str(tmp_path / "x.pdf"),
    )
    assert result.exit_code == 3
    assert not (tmp_path / "x.pdf").exists()


def test_a_trust_list_without_the_key_refuses_the_certificate(
    ykt: Ykt, people: People, tmp_path: Path
) -> None:
    person = people.resident()
    out = tmp_path / "proof.pdf"
    ykt(
        "document",
        "issue",
        "--resident",
        str(person.resident_id),
        "--type",
        "proof",
        "--out",
        str(out),
    )
    empty = tmp_path / "empty.json"
    empty.write_text("[]", encoding="utf-8")
    result = ykt("document", "verify", str(out), "--trust", str(empty))
    assert result.exit_code == 2
    assert "reason=unknown-key" in result.output
