"""``slotguard users``: add, list, disable and enable the investigator console's users (admins)."""

from __future__ import annotations

import argparse
import getpass
import logging
import sys

from rich.table import Table

from slotguard.commands.store import (
    EXIT_NOT_FOUND,
    EXIT_OK,
    add_format_argument,
    add_store_argument,
    console,
    emit_json,
    with_store,
)
from slotguard.config import Settings
from storage import Store

log = logging.getLogger(__name__)

ROLES_TEXT = "investigator, it, data-scientist, admin"

DESCRIPTION = f"""\
Manage who can sign in to the investigator console (`slotguard console`). Users live in the history
store; passwords are stored as Argon2id hashes only. Every change is written to the audit trail.

roles: {ROLES_TEXT}
  investigator    queue, account and operation pages, decisions
  it              the site overview only
  data-scientist  exports decisions as training labels
  admin           manages users, reads the audit trail

actions:
  add NAME --role ROLE    add a user; the password is asked twice (or read from stdin with --password-stdin)
  list                    the users, their roles and whether they are disabled
  disable NAME            the user can no longer sign in (sessions in progress end at their next request)
  enable NAME             sign-in allowed again
  password NAME           set a new password

examples:
  slotguard users add alice --role investigator
  printf '%s\\n' "$PASSWORD" | slotguard users add bob --role admin --password-stdin
  slotguard users list -o json
  slotguard users disable alice

exit codes: 0 done, 1 unknown user (or already exists, for add), 2 store unreachable or bad input.
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="users_action", metavar="ACTION", required=True)
    add = sub.add_parser("add", help="add a user")
    add.add_argument("username", metavar="NAME")
    add.add_argument("--role", required=True, help=ROLES_TEXT)
    add.add_argument("--password-stdin", action="store_true", help="read the password from the first line of stdin")
    listing = sub.add_parser("list", help="list users")
    for name, text in (("disable", "forbid sign-in"), ("enable", "allow sign-in again"), ("password", "new password")):
        action = sub.add_parser(name, help=text)
        action.add_argument("username", metavar="NAME")
        if name == "password":
            action.add_argument("--password-stdin", action="store_true", help="read it from stdin")
        add_store_argument(action)
        add_format_argument(action)
    for action in (add, listing):
        add_store_argument(action)
        add_format_argument(action)


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        raise ValueError("the two passwords differ")
    return first


def _operator() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:  # no login name (containers): still say it came from the command line
        return "cli"


def run(args: argparse.Namespace, settings: Settings) -> int:
    from console.auth import check_role, hash_password

    action = args.users_action
    operator = _operator()

    def act(store: Store) -> int:
        if action == "list":
            users = store.users()
            if args.format == "json":
                emit_json(users)
            else:
                table = Table("user", "role", "disabled", "changed by", "changed at", title=f"{len(users)} users")
                for u in users:
                    table.add_row(
                        u["username"], u["role"], "yes" if u["disabled"] else "", u["changed_by"], u["changed_at"]
                    )
                console().print(table)
            return EXIT_OK
        existing = store.user(args.username)
        if action == "add":
            if existing is not None:
                print(f"slotguard: user {args.username!r} already exists", file=sys.stderr)
                return EXIT_NOT_FOUND
            role = check_role(args.role)
            row = store.save_user(
                args.username, role, hash_password(_read_password(args.password_stdin)), disabled=False, by=operator
            )
        else:
            if existing is None:
                print(f"slotguard: unknown user {args.username!r}", file=sys.stderr)
                return EXIT_NOT_FOUND
            password_hash = existing["password_hash"]
            disabled = existing["disabled"]
            if action == "password":
                password_hash = hash_password(_read_password(args.password_stdin))
            else:
                disabled = action == "disable"
            row = store.save_user(args.username, existing["role"], password_hash, disabled=disabled, by=operator)
        store.audit_append(
            username=operator, role="admin", action=f"user_{action}", target=args.username, detail={"role": row["role"]}
        )
        if args.format == "json":
            emit_json([row])
        else:
            state = "disabled" if row["disabled"] else "active"
            console().print(f"user {row['username']} ({row['role']}, {state}): {action} recorded by {operator}")
        return EXIT_OK

    try:
        if action == "add":
            check_role(args.role)
        return with_store(settings, act, create=action == "add")
    except ValueError as exc:
        print(f"slotguard: {exc}", file=sys.stderr)
        return 2
