#!/usr/bin/env python3
"""Sets up what the C tests need on a fresh local vault, through its operator
API (/_dev), and prints it as NAME=value lines for tests/c/run.sh.

usage: fixtures.py SERVER_LINE_JSON
The argument is the JSON line `alter-dev serve` printed when it was ready.
Python standard library only.
"""
import json
import sys
import urllib.request


def main() -> int:
    info = json.loads(sys.argv[1])
    base, admin = info["base_url"], info["admin_token"]

    def post(path: str, body: dict) -> dict:
        req = urllib.request.Request(
            base + path,
            data=json.dumps(body).encode(),
            method="POST",
            headers={"Authorization": "Bearer " + admin, "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.loads(resp.read())

    # The operator's managed secret the guide binds to research-bot (Path B).
    secret = post("/_dev/managed-secrets", {"slug": "anthropic", "credential": "sk-ant-test-credential"})
    # An end user who delegates a Google connection to the agent (Path A).
    user = post("/_dev/users", {"email": "alice@example.com"})

    out = {
        "ALTER_TEST_BASE_URL": base,
        "ALTER_TEST_ADMIN_TOKEN": admin,
        "ALTER_TEST_APP_KEY": info["app_api_key"],
        "ALTER_TEST_SECRET_ID": secret["managed_secret_id"],
        "ALTER_TEST_USER_ID": user["user_id"],
        "ALTER_TEST_USER_TOKEN": user["user_token"],
    }
    for k, v in out.items():
        print(f"{k}={v}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
