"""The ``token`` and ``audit`` commands: who may call the service, and the tamper-evident record of
what was done (see docs/audit.md). Added to the ``geoverify`` group in
:mod:`geoverify.cli.main`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from geoverify.cli.options import database_option, open_store
from geoverify.settings import configured_tz
from geoverify.store.tokens import ROLES


def _grace(_ctx, _param, value: str):
    from geoverify.store.tokens import MAX_GRACE, parse_duration

    grace = parse_duration(value, "smhd", what="--grace")
    if grace > MAX_GRACE:
        raise click.BadParameter(f"{value!r}: a grace period is at most 7d")
    return grace


def _verdict_lines(result: dict) -> list[str]:
    """What ``audit verify`` prints to stdout for a chain that checks out (the verdict first)."""
    n = result["ledger_entries"]
    lines = [
        f"audit log OK: {result['entries']} entries, head hash {result['head_hash']}",
        f"{n} ledger entr{'y matches its' if n == 1 else 'ies match their'} audit entr{'y' if n == 1 else 'ies'}",
    ]
    checkpoint = result["checkpoint"]
    if checkpoint is not None:
        lines.append(
            f"checkpoint seq {checkpoint['seq']} ({checkpoint['source']}, signed at {checkpoint['at']}, "
            f"key {checkpoint['key_id']}): signature {checkpoint['signature']}"
        )
    return lines


@click.group()
def token() -> None:
    """API tokens (stored hashed; shown once; optionally expiring; rotatable)."""


@token.command("create")
@click.option("--role", required=True, type=click.Choice(ROLES))
@click.option(
    "--scope", "scopes", multiple=True, help="Member id (uploader) or grid id (supervisor); repeat for several."
)
@click.option("--name", default=None, help="A name to revoke it by (default: role and random suffix).")
@click.option(
    "--expires",
    default=None,
    metavar="WHEN",
    help="When it stops working: a duration (90d, 12h, 2w), an ISO date (works through that "
    "local day) or an ISO date-time. Default: never.",
)
@database_option
def token_create(role, scopes, name, expires, database_url):
    """Create a token; the last line printed is the token alone."""
    from geoverify.store import tokens

    expires_at = None if expires is None else tokens.parse_expiry(expires, configured_tz())
    store = open_store(database_url)
    with store.write() as conn:
        name, secret = tokens.create(conn, role, list(scopes), name, expires_at=expires_at)
    until = f", expires {expires_at.isoformat(timespec='seconds')}" if expires_at else ""
    click.echo(
        f"token {name} (role {role}{', scope ' + ' '.join(sorted(scopes)) if scopes else ''}{until}); "
        "it is shown only now:",
        err=True,
    )
    click.echo(secret)


@token.command("rotate")
@click.argument("name")
@click.option(
    "--grace",
    default="0",
    callback=_grace,
    metavar="DURATION",
    show_default=True,
    help="How long the old secret keeps working (e.g. 30m, 1h, 2d; at most 7d).",
)
@click.option(
    "--expires",
    default=None,
    metavar="WHEN",
    help="When the new secret stops working (as for `token create`); default: the old "
    "secret's lifetime again, or never.",
)
@database_option
def token_rotate(name, grace, expires, database_url):
    """Give token NAME a new secret (same name, role and scope) and retire the old one; the last
    line printed is the new token alone."""
    from geoverify.store import tokens

    expires_at = None if expires is None else tokens.parse_expiry(expires, configured_tz())
    store = open_store(database_url)
    with store.write() as conn:
        secret, expires_text, until = tokens.rotate(conn, name, grace=grace, expires_at=expires_at)
    old = f"the old secret keeps working until {until}" if grace else "the old secret stopped working now"
    new = f"the new one expires {expires_text}" if expires_text else "the new one does not expire"
    click.echo(f"token {name} rotated: {old}; {new}. It is shown only now:", err=True)
    click.echo(secret)


@token.command("revoke")
@click.argument("name")
@database_option
def token_revoke(name, database_url):
    """Revoke the token called NAME (its current and any previous secret)."""
    from geoverify.store import tokens

    store = open_store(database_url)
    with store.write() as conn:
        tokens.revoke(conn, name)
    click.echo(f"token {name} revoked")


@token.command("list")
@database_option
def token_list(database_url):
    """List tokens: name, role, scopes and state (live, expiry, revoked; never the tokens)."""
    from geoverify.store import tokens

    with open_store(database_url).read() as conn:
        for row in tokens.listing(conn):
            click.echo(f"{row['name']}\t{row['role']}\t{','.join(row['scopes']) or '-'}\t{tokens.state(row)}")


@click.group("audit")
def audit_group() -> None:
    """The hash-chained audit log, its signed checkpoints and their key (see docs/audit.md)."""


@audit_group.command("keygen")
@click.option(
    "--out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Private key file to write (mode 0600); the public key goes to OUT.pub.",
)
def audit_keygen(out):
    """Make the Ed25519 key that signs audit checkpoints; prints its key id and public key."""
    from geoverify.store.checkpoints import generate

    private, public, key_id = generate(out)
    private, public = private.resolve(), public.resolve()
    click.echo(
        f"wrote the private key to {private} (mode 0600) and the public key to {public}.\n"
        f"Keep the private key off the database server's backups and out of the database "
        f"administrators' reach; point the service at it with GEOVERIFY_AUDIT_KEY={private}.\n"
        f"Give {public} to the auditors: `geoverify audit verify --public-key {public}`.",
        err=True,
    )
    click.echo(f"key id {key_id}")
    click.echo(public.read_text(encoding="ascii"), nl=False)


@audit_group.command("checkpoint")
@database_option
def audit_checkpoint(database_url):
    """Sign a checkpoint of the log's head now (the store also does so after every change)."""
    from geoverify.errors import AuditKeyError
    from geoverify.store import checkpoints

    store = open_store(database_url)
    if store.audit_key is None:
        raise AuditKeyError(
            "no audit key: set GEOVERIFY_AUDIT_KEY to the key file (`geoverify audit keygen --out PATH` makes one)"
        )
    with store.write() as conn:
        made = checkpoints.make(conn, store.audit_key)
        newest = checkpoints.latest(conn)
    if made is not None:
        click.echo(f"checkpoint seq {made['seq']} (hash {made['hash']}, at {made['at']}, key {made['key_id']})")
    elif newest is None:
        click.echo("nothing to checkpoint: the audit log is empty")
    else:
        click.echo(
            f"the head (seq {newest['seq']}) is already checkpointed (at {newest['at']}, key {newest['key_id']})"
        )


@audit_group.command("checkpoints")
@click.option(
    "--export",
    "export",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Append them to this JSON Lines file (only those newer than its last line; lines "
    "already there are never rewritten). Default: print them.",
)
@click.option("--latest", is_flag=True, help="Only the newest checkpoint.")
@database_option
def audit_checkpoints(export, latest, database_url):
    """Signed checkpoints of the log's head, as JSON Lines (keep them outside the database)."""
    from geoverify.store import checkpoints

    with open_store(database_url).read() as conn:
        if export is not None:
            exported = checkpoints.export(conn, export, latest_only=latest)
            if exported:
                first, last = exported[0]["seq"], exported[-1]["seq"]
                click.echo(f"appended {len(exported)} checkpoint(s), seq {first} to {last}, to {export}")
            else:
                last = checkpoints.read_kept(export)[-1]["seq"] if export.exists() else 0
                click.echo(f"no checkpoint after seq {last} to append to {export}")
            return
        found: list[dict | None] = [checkpoints.latest(conn)] if latest else list(checkpoints.stored(conn))
        for checkpoint in found:
            if checkpoint is not None:
                click.echo(json.dumps({k: checkpoint[k] for k in checkpoints.FIELDS}))


@audit_group.command("verify")
@click.option(
    "--checkpoint",
    "kept",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Also verify against the checkpoints of this file (kept outside the database).",
)
@click.option(
    "--public-key",
    "public_keys",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A trusted public key (PEM, as keygen writes OUT.pub); repeat for older keys. "
    "Default: the public half of GEOVERIFY_AUDIT_KEY.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the verdict as one JSON document.")
@database_option
def audit_verify(kept, public_keys, as_json, database_url):
    """Check the chain, the ledger against it and both against the latest checkpoints; exit 1
    and name the first broken seq and why if anything was changed."""
    from geoverify.store import checkpoints
    from geoverify.store.audit_verify import verify as verify_chain

    trusted = checkpoints.load_public_keys(list(public_keys))
    store = open_store(database_url)
    if store.audit_key is not None:
        trusted.setdefault(store.audit_key.key_id, store.audit_key.public_key)
    anchors = checkpoints.read_kept(kept) if kept is not None else []
    with store.read() as conn:
        result = verify_chain(conn, public_keys=trusted, kept=anchors)
    if as_json:
        click.echo(json.dumps(result, ensure_ascii=False))
    for warning in result["warnings"]:
        click.echo(f"warning: {warning}", err=True)
    if result["ok"]:
        if not as_json:
            click.echo("\n".join(_verdict_lines(result)))
        return
    click.echo(f"audit log BROKEN at seq {result['first_broken']} ({result['cause']}): {result['reason']}", err=True)
    sys.exit(1)
