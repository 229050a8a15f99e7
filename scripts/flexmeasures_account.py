"""Create a FlexMeasures account with one user (run in FlexMeasures' own venv).

    flexmeasures_account.py --account NAME --email EMAIL --password PASSWORD [--role ROLE] [--json FILE]

scripts/flexmeasures_server runs it with the server's Python and configuration
(HOME holds its .flexmeasures.cfg). ``flexmeasures add user`` asks for the
password on the terminal; this does the same through FlexMeasures' own
``create_user`` (which also makes the user's data source) without a prompt.
Prints ``{"account_id": .., "user_id": ..}`` (also into ``--json FILE``: FlexMeasures
prints its configuration warnings on standard output too).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from flexmeasures.app import create as create_app
from flexmeasures.data import db
from flexmeasures.data.models.user import Account
from flexmeasures.data.services.users import create_user
from sqlalchemy import select


def main() -> None:
    """Create the account (refused when it exists) and its user."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--account", required=True)
    parser.add_argument("--email", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--role", default="account-admin")
    parser.add_argument("--timezone", default=None)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    app = create_app()
    with app.app_context():
        if db.session.execute(
            select(Account).filter_by(name=args.account)
        ).scalar_one_or_none():
            raise SystemExit(f"account {args.account!r} exists already")
        account = Account(name=args.account)
        db.session.add(account)
        db.session.flush()
        user = create_user(
            username=args.email.split("@")[0],
            email=args.email,
            password=args.password,
            account_name=account.name,
            user_roles=[args.role] if args.role else [],
            timezone=args.timezone or app.config["FLEXMEASURES_TIMEZONE"],
            check_email_deliverability=False,
        )
        db.session.commit()
        created = json.dumps({"account_id": account.id, "user_id": user.id})
    if args.json:
        Path(args.json).write_text(created, encoding="utf-8")
    print(created)


if __name__ == "__main__":
    main()
