"""``ykt federation``: the league file, delivery, and the inbox's dead letters."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from yikatong.core import clock
from yikatong.core.errors import Conflict, InvalidInput, NotFound
from yikatong.core.money import format_yuan
from yikatong.crypto.keyring import ALGORITHMS, Algorithm, KeyStore, SigningKey, VerifyKey
from yikatong.federation import acceptance as _acceptance  # noqa: F401  (registers responders)
from yikatong.federation import catalogue as _catalogue  # noqa: F401  (registers handlers)
from yikatong.federation import clearing, service
from yikatong.federation import league as league_file

app = typer.Typer(
    help="Federation of cities: league file, outbox delivery, inbox.", no_args_is_help=True
)
league_app = typer.Typer(help="Create, amend, sign and show a league file.", no_args_is_help=True)
dead_app = typer.Typer(help="Messages whose handler failed.", no_args_is_help=True)
catalogue_app = typer.Typer(
    help="The cross-city scenario catalogue (应用目录).", no_args_is_help=True
)
app.add_typer(league_app, name="league")
app.add_typer(dead_app, name="dead-letters")
app.add_typer(catalogue_app, name="catalogue")
clearing_app = typer.Typer(help="Inter-city clearing (城市间清算).", no_args_is_help=True)
app.add_typer(clearing_app, name="clearing")
console = Console()


def _write(path: Path, document: league_file.LeagueDocument) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(document.to_json(), encoding="utf-8")
    tmp.replace(path)


def _read(path: Path) -> league_file.LeagueDocument:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise NotFound(f"cannot read {path}: {exc.strerror}") from None
    return league_file.parse_document(text, source=str(path))


def _operator_key(directory: Path, algorithm: Algorithm | None = None) -> SigningKey:
    store = KeyStore(directory)
    keys = [k for k in store.load_all() if k.retired_at is None]
    if algorithm is not None:
        keys = [k for k in keys if k.algorithm == algorithm]
    if not keys:
        raise NotFound(f"no league operator key in {directory}; create one with 'league init'")
    return max(keys, key=lambda k: k.not_before)


@app.command("key")
def show_key() -> None:
    """Print this city's public signing key as JSON (give it to the league operator)."""
    from yikatong.node import open_from_environment

    node = open_from_environment()
    typer.echo(json.dumps(node.signing_key().verify_key().to_json(), indent=2))


@league_app.command("init")
def league_init(
    path: Path = typer.Argument(..., help="League file to create"),
    name: str = typer.Option(..., help="League name, e.g. 胶东经济圈"),
    operator_keys: Path = typer.Option(..., help="Directory holding the operator's private key"),
    algorithm: str = typer.Option("SM2", help="SM2 or Ed25519"),
) -> None:
    """Create an empty league file and (if needed) the operator's signing key."""
    if algorithm not in ALGORITHMS:
        raise InvalidInput("algorithm must be SM2 or Ed25519", field="algorithm")
    if path.exists():
        raise Conflict(f"{path} already exists; amend it with 'league add-member'")
    store = KeyStore(operator_keys)
    key = store.ensure_active("league", algorithm, clock.now())
    os.chmod(operator_keys, 0o700)
    document = league_file.sign_document(league_file.new_document(name, key), key)
    _write(path, document)
    console.print(f"league {name!r} created in {path}, operator key {key.key_id}")


@league_app.command("bootstrap")
def league_bootstrap(
    directory: Path = typer.Argument(..., help="Directory for the league file and city nodes"),
    name: str = typer.Option(..., help="League name, e.g. 济青郑"),
    city: list[str] = typer.Option(
        ..., help="CODE:NAME[:ENDPOINT], once per city, e.g. 370200:青岛:http://127.0.0.1:8101"
    ),
    base_port: int | None = typer.Option(
        None, min=1, max=65000, help="Cities without an endpoint get http://127.0.0.1:<port+i>"
    ),
    algorithm: str = typer.Option("SM2", help="SM2 or Ed25519"),
) -> None:
    """Create a league for N cities at once: operator key, city keys, signed league file."""
    from yikatong.federation.bootstrap import CitySpec, bootstrap_league

    if algorithm not in ALGORITHMS:
        raise InvalidInput("algorithm must be SM2 or Ed25519", field="algorithm")
    specs = [
        CitySpec.parse(
            text,
            default_endpoint=f"http://127.0.0.1:{base_port + i}" if base_port else None,
        )
        for i, text in enumerate(city)
    ]
    result = bootstrap_league(directory, name=name, cities=specs, algorithm=algorithm)
    console.print(
        f"league {name!r} signed in {result.league_file} (operator key {result.operator_key_id})"
    )
    table = Table("city", "name", "endpoint", "key id", "settings")
    for node in result.cities:
        table.add_row(node.city_code, node.name, node.endpoint, node.key_id, str(node.env_file))
    console.print(table)


@league_app.command("add-member")
def league_add_member(
    path: Path = typer.Argument(..., help="League file"),
    city_code: str = typer.Option(..., help="Six-digit city code"),
    name: str = typer.Option(..., help="City name, e.g. 青岛"),
    endpoint: str = typer.Option(..., help="Base URL of the city's node, e.g. https://ykt.qd…"),
    key_file: Path = typer.Option(..., help="JSON from 'ykt federation key' on that node"),
) -> None:
    """Add a city, or add a new key (rotation) to a city already listed. Sign afterwards."""
    try:
        key = VerifyKey.from_json(json.loads(key_file.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError) as exc:
        raise InvalidInput(
            f"{key_file} is not a key from 'ykt federation key': {exc}", field="key_file"
        ) from None
    document = league_file.with_member(
        _read(path), city_code=city_code, name=name, endpoint=endpoint, key=key
    )
    _write(path, document)
    console.print(f"{city_code} {name} with key {key.key_id} added; now run 'league sign'")


@league_app.command("retire-key")
def league_retire_key(
    path: Path = typer.Argument(..., help="League file"),
    key_id: str = typer.Argument(..., help="Key id to retire"),
    at: str | None = typer.Option(None, help="ISO time of retirement (default: now)"),
) -> None:
    """Retire a member key: it keeps verifying what it signed before that instant."""
    when = clock.now()
    if at:
        try:
            when = dt.datetime.fromisoformat(at)
        except ValueError:
            raise InvalidInput(f"{at!r} is not an ISO date-time", field="at") from None
        if when.tzinfo is None:
            raise InvalidInput("give the time zone, e.g. 2025-03-10T10:00+08:00", field="at")
    _write(path, league_file.with_key_retired(_read(path), key_id, when))
    console.print(f"key {key_id} retired at {when.isoformat()}; now run 'league sign'")


@league_app.command("sign")
def league_sign(
    path: Path = typer.Argument(..., help="League file"),
    operator_keys: Path = typer.Option(..., help="Directory holding the operator's private key"),
) -> None:
    """Sign the league file with the operator's key."""
    document = _read(path)
    key = _operator_key(operator_keys, document.operator.algorithm)
    signed = league_file.sign_document(document, key)
    _write(path, signed)
    console.print(f"{path} signed: league {signed.name!r} version {signed.version}")


@league_app.command("show")
def league_show(path: Path = typer.Argument(..., help="League file")) -> None:
    """Verify the signature and list the members and their keys."""
    league = league_file.verify_document(_read(path))
    console.print(
        f"league {league.name!r} version {league.version}, operator key "
        f"{league.document.operator.key_id} — signature valid"
    )
    table = Table("city", "name", "endpoint", "key id", "algorithm", "from", "retired")
    for member in league.document.members:
        for key in member.keys:
            table.add_row(
                member.city_code,
                member.name,
                member.endpoint,
                key.key_id,
                key.algorithm,
                key.not_before.isoformat(timespec="seconds"),
                key.retired_at.isoformat(timespec="seconds") if key.retired_at else "",
            )
    console.print(table)


@app.command("dispatch")
def dispatch(
    once: bool = typer.Option(False, "--once", help="One pass, then exit"),
    interval: float = typer.Option(0.5, min=0.05, help="Seconds between passes when idle"),
) -> None:
    """Deliver the outbox to the other cities (until interrupted, or one pass with --once)."""
    import httpx

    from yikatong.federation.dispatcher import DispatcherThread, dispatch_once
    from yikatong.node import open_from_environment

    node = open_from_environment()
    if once:
        with httpx.Client() as client:
            report = dispatch_once(node, client)
        console.print(f"sent {report.sent}, failed {report.failed}")
        for error in report.errors:
            console.print(f"  [red]{error}[/]")
        return
    worker = DispatcherThread(node, interval=interval)
    worker.start()
    try:
        while worker.is_alive():
            worker.join(1.0)
    except KeyboardInterrupt:
        worker.stop()


@app.command("hello")
def hello(to: str = typer.Option(..., "--to", help="City code to greet")) -> None:
    """Queue a node.hello to another city (it records when it last heard from us)."""
    from yikatong.node import open_from_environment

    node = open_from_environment()
    with node.transaction() as session:
        message_id = service.send_hello(session, to, city_name=node.settings.city_name)
    console.print(f"queued node.hello {message_id} for {to}")


@app.command("note")
def note(
    to: str = typer.Option(..., "--to", help="City code to write to"),
    text: str = typer.Option(..., help="Text of the note"),
) -> None:
    """Queue a free-text note to another city."""
    from yikatong.node import open_from_environment

    node = open_from_environment()
    with node.transaction() as session:
        message_id = service.send_note(session, to, text)
    console.print(f"queued note {message_id} for {to}")


@app.command("notes")
def list_notes(sender: str | None = typer.Option(None, help="Only from this city")) -> None:
    """Notes received from other cities, in the order they were applied."""
    from yikatong.node import open_from_environment

    node = open_from_environment()
    with node.transaction() as session:
        rows = service.notes(session, sender=sender)
        table = Table("from", "seq", "received", "text")
        for row in rows:
            table.add_row(
                row.sender, str(row.seq), row.received_at.isoformat(timespec="seconds"), row.text
            )
    console.print(table)


@app.command("status")
def status() -> None:
    """Outbox backlog, inbound streams, dead letters and peers."""
    from yikatong.node import open_from_environment

    node = open_from_environment()
    with node.transaction() as session:
        state = service.status(session)
    console.print(
        f"outbox: {state.outbox_pending} pending ({state.outbox_failing} retrying); "
        f"open dead letters: {state.open_dead_letters}"
    )
    streams = Table("from", "stream", "next seq", "blocked at", "waiting")
    for s in state.inbound:
        streams.add_row(
            s.sender, s.stream, str(s.next_seq), str(s.blocked_by_seq or ""), str(s.waiting)
        )
    console.print(streams)
    peers = Table("city", "name", "last seen", "key id", "version")
    for p in state.peers:
        peers.add_row(
            p.city_code,
            p.name or "",
            p.last_seen_at.isoformat(timespec="seconds"),
            p.key_id,
            p.software_version or "",
        )
    console.print(peers)


@app.command("rejections")
def list_rejections(
    reason: str | None = typer.Option(None, help="Only this reason code"),
    limit: int = typer.Option(50, min=1, max=1000),
) -> None:
    """Envelopes the inbox refused, newest first."""
    from yikatong.node import open_from_environment

    node = open_from_environment()
    with node.transaction() as session:
        rows = service.rejections(session, reason=reason, limit=limit)
        table = Table("at", "reason", "sender", "message id", "detail")
        for r in rows:
            table.add_row(
                r.at.isoformat(timespec="seconds"),
                r.reason,
                r.sender or "",
                r.message_id or "",
                r.detail,
            )
    console.print(table)


@dead_app.command("list")
def dead_list(
    status: str = typer.Option("open", help="open, replayed, discarded or all"),
) -> None:
    """Dead letters (open ones block their stream)."""
    from yikatong.node import open_from_environment

    node = open_from_environment()
    with node.transaction() as session:
        rows = service.dead_letters(session, status=None if status == "all" else status)
        table = Table("id", "from", "stream", "seq", "type", "attempts", "status", "error")
        for r in rows:
            table.add_row(
                str(r.id),
                r.sender,
                r.stream,
                str(r.seq),
                r.payload_type,
                str(r.attempts),
                r.status,
                r.error,
            )
    console.print(table)


@dead_app.command("show")
def dead_show(letter_id: int = typer.Argument(..., help="Dead letter id")) -> None:
    """One dead letter with its signed envelope."""
    from yikatong.node import open_from_environment

    node = open_from_environment()
    with node.transaction() as session:
        letter = service.get_dead_letter(session, letter_id)
        envelope = service.dead_letter_envelope(session, letter)
        console.print(
            f"dead letter {letter.id}: {letter.sender}/{letter.stream} seq {letter.seq} "
            f"({letter.payload_type}), {letter.status}, {letter.attempts} attempt(s)\n"
            f"error: {letter.error}"
        )
    typer.echo(json.dumps(envelope, ensure_ascii=False, indent=2))


def _operator_name() -> str:
    return os.environ.get("USER") or "operator"


@dead_app.command("replay")
def dead_replay(letter_id: int = typer.Argument(..., help="Dead letter id")) -> None:
    """Run the failed message's handler again; on success its stream resumes."""
    from yikatong.node import open_from_environment

    node = open_from_environment()
    with node.transaction() as session:
        letter = service.replay_dead_letter(session, letter_id, actor=_operator_name())
        outcome, error = letter.status, letter.error
    if outcome == "replayed":
        console.print(f"dead letter {letter_id} applied; its stream resumes")
    else:
        console.print(f"[red]dead letter {letter_id} failed again:[/] {error}")
        raise typer.Exit(4)


@dead_app.command("discard")
def dead_discard(
    letter_id: int = typer.Argument(..., help="Dead letter id"),
    reason: str = typer.Option(..., help="Why the message is given up"),
) -> None:
    """Give up on the message (kept as evidence); its stream continues after it."""
    from yikatong.node import open_from_environment

    node = open_from_environment()
    with node.transaction() as session:
        service.discard_dead_letter(session, letter_id, actor=_operator_name(), reason=reason)
    console.print(f"dead letter {letter_id} discarded; its stream continues")


@catalogue_app.command("publish")
def catalogue_publish(
    file: Path | None = typer.Option(None, help="Catalogue file (default: the packaged one)"),
) -> None:
    """Store this city's part of the catalogue and send it to every other city of the league."""
    from yikatong.federation.catalogue import load_catalogue, publish_catalogue
    from yikatong.node import open_from_environment

    node = open_from_environment()
    catalogue = load_catalogue(file, allow_illustrative=node.settings.demo)
    league = service.league_of(node)
    with node.transaction() as session:
        count = publish_catalogue(session, node.city_code, league.cities, catalogue)
    console.print(
        f"{node.city_code} published {count} scenarios (catalogue {catalogue.version}) "
        f"to {len(league.cities) - 1} cities"
    )


@catalogue_app.command("show")
def catalogue_show(
    city: str | None = typer.Option(None, help="City whose catalogue to show (default: this one)"),
) -> None:
    """The scenarios of a city's catalogue and whose cards each accepts."""
    from yikatong.federation.catalogue import catalogue_of
    from yikatong.node import open_from_environment

    node = open_from_environment()
    with node.transaction() as session:
        rows = catalogue_of(session, city or node.city_code)
        table = Table("domain", "scenario", "name", "accepts cards of", "terms")
        for row in rows:
            table.add_row(
                row.domain,
                row.scenario,
                row.name,
                ", ".join(row.accepts) or "—",
                json.dumps(row.terms, ensure_ascii=False) if row.terms else "",
            )
    console.print(table)


@catalogue_app.command("check")
def catalogue_check(
    scenario: str = typer.Option(..., help="Scenario id, e.g. transport.bus"),
    card_city: str = typer.Option(..., help="City that issued the card"),
    city: str | None = typer.Option(None, help="City where the card is used (default: this one)"),
) -> None:
    """May a card of CARD_CITY be used for SCENARIO here? Exit code 4 when it may not."""
    from yikatong.federation.catalogue import check_scenario
    from yikatong.node import open_from_environment

    node = open_from_environment()
    with node.transaction() as session:
        verdict = check_scenario(
            session, city_code=city or node.city_code, scenario=scenario, card_city=card_city
        )
    terms = json.dumps(verdict.terms, ensure_ascii=False) if verdict.terms else ""
    console.print(f"{'accepted' if verdict.accepted else 'not accepted'}: {verdict.reason} {terms}")
    if not verdict.accepted:
        raise typer.Exit(4)


@app.command("deny-list-sync")
def deny_list_sync(
    issuer: str = typer.Option(..., "--from", help="City whose deny list to fetch"),
) -> None:
    """Fetch another city's deny-list changes (for stand-in and offline acceptance)."""
    from yikatong.federation.acceptance import sync_deny_list
    from yikatong.node import open_from_environment

    node = open_from_environment()
    result = sync_deny_list(node, issuer)
    console.print(f"{issuer}: {result.fetched} change(s) fetched, now at seq {result.last_seq}")


@clearing_app.command("run")
def clearing_run(
    counterparty: str = typer.Option(..., "--with", help="City to clear with"),
    date: str = typer.Option(..., help="Business day, YYYY-MM-DD (a past day)"),
) -> None:
    """Net one business day with one city, post the settlement and send the statement."""
    from yikatong.node import open_from_environment

    try:
        day = dt.date.fromisoformat(date)
    except ValueError:
        raise InvalidInput(f"{date!r} is not a date YYYY-MM-DD", field="date") from None
    node = open_from_environment()
    with node.transaction() as session:
        run = clearing.run_clearing(
            session, own_city=node.city_code, counterparty=counterparty, business_date=day
        )
        net, lines = run.net_fen, run.lines
    owes = f"{counterparty} owes us" if net >= 0 else f"we owe {counterparty}"
    console.print(f"{day} with {counterparty}: {lines} line(s), {owes} {format_yuan(abs(net))}")


@clearing_app.command("reports")
def clearing_reports() -> None:
    """Statements received from other cities, compared line by line."""
    from yikatong.node import open_from_environment

    node = open_from_environment()
    with node.transaction() as session:
        reports = clearing.clearing_reports(session)
        table = Table("date", "city", "status", "matched", "their net", "our net", "mismatches")
        for r in reports:
            table.add_row(
                r.business_date.isoformat(),
                r.counterparty,
                r.status,
                str(r.matched),
                format_yuan(r.their_net_fen),
                format_yuan(r.our_net_fen),
                "\n".join(f"{m['payment_ref']}: {m['issue']}" for m in r.mismatches),
            )
    console.print(table)
