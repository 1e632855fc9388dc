"""The ``beckon`` command as an operator meets it."""

from __future__ import annotations

import os
import subprocess
import sys

from backend.core.protocol import ID_RE, new_id
from backend.testing.servers import free_port


def beckon(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "backend.cli", *args], env={**os.environ, **(env or {})},
                          capture_output=True, text=True, timeout=60)


def test_every_command_says_in_one_line_when_redis_is_unreachable() -> None:
    nowhere = {"BECKON_REDIS_URL": f"redis://:secret-pass@127.0.0.1:{free_port()}/0"}
    for args in (["site", "create", "--name", "Shop", "--origin", "https://shop.example"], ["site", "list"],
                 ["rep", "create", "--site", "site-0001", "--name", "R", "--email", "r@x.example",
                  "--password", "long-enough-pass"]):
        done = beckon(*args, env=nowhere)
        assert done.returncode == 3, (args, done.stderr)
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in done.stderr, (args, done.stderr)
        assert "BECKON_REDIS_URL" in lines[0] and "cannot reach Redis" in lines[0]
        assert "secret-pass" not in done.stderr  # the URL's password is not printed
        assert done.stdout == ""


def test_the_help_says_what_the_worker_does() -> None:
    out = beckon("--help").stdout
    assert "worker" in out and "sends mail" in out
    assert "ranking" not in out and "reports" not in out


def test_serving_other_machines_with_default_secrets_is_refused() -> None:
    port = str(free_port())
    done = beckon("serve", "--host", "0.0.0.0", "--port", port,
                  env={"BECKON_ADMIN_TOKEN": "", "BECKON_SECRET_KEY": ""})
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "BECKON_ADMIN_TOKEN" in lines[0] and "BECKON_SECRET_KEY" in lines[0]
    # strong secrets: no complaint about them (checked without starting a server)
    from backend.cli import secrets_refusal
    from backend.config import Settings

    strong = Settings(admin_token="a" * 24, secret_key="s" * 40)
    assert secrets_refusal(strong, "0.0.0.0") == ("", False)
    message, refuse = secrets_refusal(Settings(), "127.0.0.1")
    assert not refuse and "warning" in message


def test_a_new_key_or_id_never_reads_as_an_option() -> None:
    """A site key starting with "-" made ``beckon rep create --site KEY`` fail ("expected one
    argument"); a new key or id neither starts nor ends with "-" or "_"."""
    assert beckon("rep", "create", "--site", "-Ab3dEf9hIj", "--name", "R", "--email", "r@x.example",
                  "--password", "long-enough-pass").returncode == 2  # what such a key met
    made = [new_id(12) for _ in range(5000)] + [new_id() for _ in range(5000)]
    assert all(ID_RE.fullmatch(i) and i[0].isalnum() and i[-1].isalnum() for i in made)
    assert len(set(made)) == len(made)
