"""Every failure a user can cause or meet ends in one line naming what failed and what to do, never a traceback.

Most cases run the real CLI as a subprocess (`python -m segmail.jobs.cli`), against local stand-ins: a closed
port for an unreachable host, and a tiny HTTP server that answers every request with one fixed status
for API errors. Exit statuses are the documented ones: 1 a failure, 2 bad config or input, 130 Ctrl-C.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from sqlalchemy.exc import OperationalError

from segmail.jobs.cli import main
from segmail.jobs.cli import rules as cli_rules

ROOT = Path(__file__).resolve().parent.parent
KEY = "0123456789abcdef0123456789abcdef-us6"


def free_port() -> int:
    """A port nothing listens on: bound by us, then closed."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def cli_env(tmp_path) -> dict[str, str]:
    prefixes = (
        "SEGMAIL_",
        "MAILCHIMP_",
        "SHOPIFY_",
        "WC_",
        "PYTHONUNBUFFERED",
    )  # buffered stdout, as users have
    env = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    env |= {
        "SEGMAIL_STORE_URL": f"sqlite:///{tmp_path / 'store.db'}",
        "MAILCHIMP_API_KEY": KEY,
        "COLUMNS": "80",
    }
    env |= {"WC_CONSUMER_KEY": "ck_" + "a" * 40, "WC_CONSUMER_SECRET": "cs_" + "b" * 40}
    return env


def segmail(env, *args, **streams) -> subprocess.CompletedProcess[str]:
    streams = streams or {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE}
    return subprocess.run(
        [sys.executable, "-m", "segmail.jobs.cli", *args],
        env=env,
        cwd=ROOT,
        text=True,
        timeout=120,
        **streams,
    )


def one_line(proc: subprocess.CompletedProcess[str]) -> str:
    """The failure's message: exactly one line on stderr, and no traceback anywhere."""
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    return lines[0]


def config(tmp_path, *, mailchimp_url: str, shop: str = "") -> Path:
    path = tmp_path / "c.toml"
    path.write_text(
        f'[mailchimp]\nlist_id = "list1"\napi_url = {json.dumps(mailchimp_url)}\nattempts = 2\n{shop}',
        encoding="utf-8",
    )
    return path


class FixedAnswer(BaseHTTPRequestHandler):
    """Answers every request with the server's one configured status, headers and body."""

    def _answer(self) -> None:
        status, headers, body = self.server.answer  # type: ignore[attr-defined]
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _answer

    def log_message(self, *_args) -> None:
        pass


@pytest.fixture
def fixed_server() -> Iterator:
    servers = []

    def start(status: int, body: object, headers: dict[str, str] | None = None) -> str:
        server = ThreadingHTTPServer(("127.0.0.1", 0), FixedAnswer)
        server.answer = (
            status,
            {"Content-Type": "application/json", **(headers or {})},
            json.dumps(body).encode(),
        )  # type: ignore[attr-defined]
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


# ---- the network and the APIs ------------------------------------------------------------------
@pytest.mark.slow  # the CLI in a subprocess
def test_unreachable_mailchimp_names_the_url_to_check(tmp_path, cli_env):
    toml = config(tmp_path, mailchimp_url=f"http://127.0.0.1:{free_port()}/3.0")
    proc = segmail(cli_env, "--config", str(toml), "sync", "--once")
    line = one_line(proc)
    assert proc.returncode == 1
    assert re.fullmatch(r"error: Mailchimp [a-z ]+: no response \(ConnectionError\), on every attempt — check the URL "
                        r"in the config \(\[mailchimp\] api_url, \[shop\] url\) and the network, then run again", line)  # fmt: skip


@pytest.mark.slow  # the CLI in a subprocess
def test_retries_exhausted_says_to_run_again_later(tmp_path, cli_env, fixed_server):
    url = fixed_server(
        503, {"title": "Service Unavailable", "detail": "down for maintenance"}, {"Retry-After": "0"}
    )
    proc = segmail(cli_env, "--config", str(config(tmp_path, mailchimp_url=url + "/3.0")), "sync", "--once")
    line = one_line(proc)
    assert proc.returncode == 1
    assert "HTTP 503: Service Unavailable — down for maintenance, on every attempt" in line
    assert line.endswith("the service is busy or down; run again later")


@pytest.mark.slow  # the CLI in a subprocess
def test_a_mailchimp_api_error_is_one_line(tmp_path, cli_env, fixed_server):
    url = fixed_server(400, {"title": "Invalid Resource", "detail": "The list id is unknown"})
    proc = segmail(cli_env, "--config", str(config(tmp_path, mailchimp_url=url + "/3.0")), "sync", "--once")
    line = one_line(proc)
    assert proc.returncode == 1
    assert re.fullmatch(r"error: Mailchimp [a-z ]+: HTTP 400: Invalid Resource — The list id is unknown — the request "
                        r"was refused; fix what the message names", line)  # fmt: skip


@pytest.mark.slow  # the CLI in a subprocess
def test_refused_mailchimp_credentials_are_a_config_error(tmp_path, cli_env, fixed_server):
    url = fixed_server(401, {"title": "API Key Invalid", "detail": "Your API key may be invalid"})
    proc = segmail(cli_env, "--config", str(config(tmp_path, mailchimp_url=url + "/3.0")), "sync", "--once")
    line = one_line(proc)
    assert proc.returncode == 2 and KEY not in proc.stderr
    assert re.fullmatch(r"error: Mailchimp [a-z ]+: HTTP 401: API Key Invalid — Your API key may be invalid — check "
                        r"the credentials and their permissions", line)  # fmt: skip


def woo(url: str) -> str:
    return f'[shop]\nkind = "woocommerce"\nurl = {json.dumps(url)}\n'


@pytest.mark.slow  # the CLI in a subprocess
def test_a_shop_api_error_is_one_line(tmp_path, cli_env, fixed_server):
    url = fixed_server(400, {"code": "rest_invalid_param", "message": "Invalid parameter(s): modified_after"})
    toml = config(tmp_path, mailchimp_url="http://127.0.0.1:9/3.0", shop=woo(url))
    proc = segmail(cli_env, "--config", str(toml), "shop", "pull", "--once")
    line = one_line(proc)
    assert proc.returncode == 1
    assert line.startswith("error: WooCommerce list orders: HTTP 400: ") and "the request was refused" in line


@pytest.mark.slow  # the CLI in a subprocess
def test_refused_shop_credentials_are_a_config_error(tmp_path, cli_env, fixed_server):
    url = fixed_server(
        401, {"code": "woocommerce_rest_cannot_view", "message": "Sorry, you cannot list resources."}
    )
    toml = config(tmp_path, mailchimp_url="http://127.0.0.1:9/3.0", shop=woo(url))
    proc = segmail(cli_env, "--config", str(toml), "shop", "pull", "--once")
    line = one_line(proc)
    assert proc.returncode == 2 and "WooCommerce refused the consumer key/secret (401)" in line
    assert cli_env["WC_CONSUMER_SECRET"] not in proc.stderr


# ---- the store and the config ----------------------------------------------------------------------
@pytest.mark.slow  # the CLI in a subprocess
@pytest.mark.parametrize(
    ("url", "code", "expected"),
    [
        (
            "sqlite:////nonexistent-dir/segmail.db",
            1,
            "cannot open the store at sqlite:////nonexistent-dir/segmail.db: ",
        ),
        (
            "postgresql://u:hunter2@127.0.0.1:1/x",
            1,
            "cannot open the store at postgresql://u:***@127.0.0.1:1/x: ",
        ),
        ("mysql://u@localhost/x", 2, "store.url: unsupported database 'mysql'; use sqlite or postgresql"),
        (
            "not a url",
            2,
            "store.url: cannot use <unparseable store URL>: ArgumentError; expected a URL such as",
        ),
    ],
)
def test_a_store_that_cannot_be_opened(cli_env, url, code, expected):
    proc = segmail({**cli_env, "SEGMAIL_STORE_URL": url}, "status")
    line = one_line(proc)
    assert proc.returncode == code and line.startswith("store error: ") and expected in line
    assert "hunter2" not in proc.stderr
    if code == 1:
        assert line.endswith("check store.url (or SEGMAIL_STORE_URL) and that the database is reachable")


@pytest.mark.slow  # the CLI in a subprocess
def test_a_missing_unreadable_or_broken_config_file(tmp_path, cli_env):
    missing = tmp_path / "none.toml"
    proc = segmail(cli_env, "--config", str(missing), "rules", "check")
    assert proc.returncode == 2
    assert one_line(proc) == f"invalid config {missing}: cannot read the file: No such file or directory"
    proc = segmail(cli_env, "--config", str(tmp_path), "rules", "check")  # a folder
    assert proc.returncode == 2 and one_line(proc).startswith(
        f"invalid config {tmp_path}: cannot read the file: "
    )
    broken = tmp_path / "broken.toml"
    broken.write_text("[store\npath = 1\n", encoding="utf-8")
    proc = segmail(cli_env, "--config", str(broken), "rules", "check")
    assert proc.returncode == 2 and one_line(proc).startswith(f"invalid config {broken}: not valid TOML: ")


@pytest.mark.slow  # the CLI in a subprocess
def test_an_output_file_that_cannot_be_written(tmp_path, cli_env):
    target = tmp_path / "no-such-dir" / "seg.csv"
    proc = segmail(cli_env, "segments", "export", "--out", str(target))
    assert proc.returncode == 2 and one_line(proc) == f"error: {target}: No such file or directory"


@pytest.mark.slow  # the CLI in a subprocess
def test_a_port_in_use(cli_env):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        proc = segmail(cli_env, "sandbox", "serve", "--port", str(taken.getsockname()[1]), "--contacts", "0")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == (
        "error: cannot listen: Address already in use — choose another address ([service] listen, or "
        "`sandbox serve --port`; 0 picks a free port) or stop the process holding it"
    )


# ---- the terminal: pipes, Ctrl-C, options ------------------------------------------------------------
@pytest.mark.slow  # the CLI in a subprocess
@pytest.mark.parametrize("args", [["rules", "check"], ["--help"], ["segments", "--help"], ["--version"]])
def test_output_into_a_closed_pipe_stops_quietly(cli_env, args):
    """`segmail ... | head`: the reader is gone before we write (its end is closed up front: deterministic)."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        proc = segmail(cli_env, *args, stdout=write_end, stderr=subprocess.PIPE)
    finally:
        os.close(write_end)
    # https://docs.python.org/3/library/signal.html#note-on-sigpipe: exit 1, no "Exception ignored" at exit
    assert proc.returncode == 1 and proc.stderr == ""


@pytest.mark.slow  # the CLI in a subprocess
def test_ctrl_c_is_one_line_and_exit_130(tmp_path, cli_env):
    with socket.socket() as silent:  # accepts the connection and never answers: the CLI blocks in a read
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        silent.settimeout(60)
        toml = config(tmp_path, mailchimp_url=f"http://127.0.0.1:{silent.getsockname()[1]}/3.0")
        child = subprocess.Popen(
            [sys.executable, "-m", "segmail.jobs.cli", "--config", str(toml), "sync", "--once"],
            env=cli_env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        conn, _ = silent.accept()  # the CLI is now waiting for Mailchimp's answer
        child.send_signal(signal.SIGINT)
        _out, err = child.communicate(timeout=60)
        conn.close()
    assert child.returncode == 130
    assert "Traceback" not in err
    assert err.strip().splitlines() == [
        "interrupted; every completed batch is stored and a re-run continues idempotently"
    ]


@pytest.mark.slow  # the CLI in a subprocess
def test_an_unknown_option_names_the_subcommand_help(cli_env):
    proc = segmail(cli_env, "sync", "--once", "--bogus")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == (
        "segmail: error: unrecognized arguments: --bogus (see `segmail sync --help`)"
    )


def modules_with_main() -> list[str]:
    found = []
    for package in ("jobs", "sandbox", "sending", "reports", "bench", "connector", "segments", "store"):
        root = package if package == "bench" else f"segmail.{package}"  # bench/ is not installed
        for path in sorted((ROOT / package).glob("*.py")):
            if 'if __name__ == "__main__":' in path.read_text(encoding="utf-8"):
                found.append(f"{root}.{path.stem}")
        found += [f"{root}.{path.parent.name}" for path in sorted((ROOT / package).glob("*/__main__.py"))]
    return found


def test_every_runnable_module_is_found():
    assert {
        "segmail.jobs.cli",
        "segmail.sandbox.mailchimp",
        "segmail.sending.render",
        "segmail.sending.i18n",
    } <= set(modules_with_main())


@pytest.mark.slow  # the CLI in a subprocess
@pytest.mark.parametrize("module", modules_with_main())
def test_help_of_every_runnable_module(cli_env, module):
    proc = subprocess.run(
        [sys.executable, "-m", module, "--help"],
        env=cli_env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout.startswith("usage: ")


# ---- in-process: bugs, --debug, secrets, database failures ------------------------------------------
@pytest.fixture
def isolated(monkeypatch, tmp_path):
    monkeypatch.setenv("SEGMAIL_STORE_URL", f"sqlite:///{tmp_path / 'store.db'}")
    monkeypatch.delenv("SEGMAIL_CONFIG", raising=False)


def failing_rules_check(monkeypatch, exc: BaseException) -> None:
    def boom(_args, _ctx):
        raise exc

    monkeypatch.setattr(cli_rules, "cmd_rules_check", boom)


def test_an_unexpected_exception_is_one_line_and_debug_shows_the_traceback(isolated, monkeypatch, capsys):
    monkeypatch.setenv("MAILCHIMP_API_KEY", KEY)
    failing_rules_check(monkeypatch, RuntimeError(f"boom with {KEY} inside\nsecond line"))
    assert main(["rules", "check"]) == 1
    err = capsys.readouterr().err
    assert err.strip().splitlines() == [
        "error: unexpected RuntimeError: boom with *** inside — this is a bug; run with --debug for the "
        "traceback and report it"
    ]
    assert main(["rules", "check", "--debug"]) == 1  # taken after the subcommand too
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and "RuntimeError" in err
    assert err.strip().splitlines()[-1].startswith("error: unexpected RuntimeError: boom with *** inside")


def test_a_database_failure_mid_command(isolated, monkeypatch, capsys):
    failing_rules_check(monkeypatch, OperationalError("SELECT 1", {}, Exception("database is locked")))
    assert main(["rules", "check"]) == 1
    assert capsys.readouterr().err.strip().splitlines() == [
        "store error: Exception: database is locked — check that the database is reachable and has space, "
        "then run again"
    ]


def test_keyboard_interrupt_in_process(isolated, monkeypatch, capsys):
    failing_rules_check(monkeypatch, KeyboardInterrupt())
    assert main(["rules", "check"]) == 130
    assert capsys.readouterr().err.count("\n") == 1
