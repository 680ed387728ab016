"""A real IMAP server for tests: Debian's dovecot-imapd on a free loopback port, thrown away after.

Plaintext login on 127.0.0.1 only, one passwd-file user, mail in a Maildir under a temporary
folder. The test suite runs as root (as CI does): dovecot's login processes then run as
`dovenull` and the mail processes as `dovecot`, so the folder is made readable for them.
"""

from __future__ import annotations

import imaplib
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from .net import free_port

DOVECOT = "/usr/sbin/dovecot"
USER = "bounces"
PASSWORD = "imap-test-password-1"

CONFIG = """\
protocols = imap
listen = 127.0.0.1
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
{ssl}
disable_plaintext_auth = no
auth_mechanisms = plain login
default_internal_user = dovecot
default_internal_group = dovecot
default_login_user = dovenull
first_valid_uid = 1
mail_location = maildir:{root}/mail/%u
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
}}
userdb {{
  driver = static
  args = uid=dovecot gid=dovecot home={root}/home/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {tls_port}
  }}
}}
"""


class Dovecot:
    """`with Dovecot() as imap:`; `imap.port`, `imap.append(data)`, `imap.folder(name)`.

    With `tls=True` it also listens for implicit TLS on `imap.tls_port` with a self-signed
    certificate for 127.0.0.1 (`imap.certificate`), which no client trusts unless told to.
    """

    def __init__(self, *, tls: bool = False) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="outreach-dovecot-"))
        self.port = free_port()
        self.tls_port = free_port() if tls else 0
        self.certificate = self.root / "cert.pem"
        self.process: subprocess.Popen[bytes] | None = None

    def _ssl_settings(self) -> str:
        if not self.tls_port:
            return "ssl = no"
        key = self.root / "key.pem"
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
             "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
             "-keyout", str(key), "-out", str(self.certificate)],
            check=True,
            capture_output=True,
        )  # fmt: skip
        return f"ssl = yes\nssl_cert = <{self.certificate}\nssl_key = <{key}"

    def __enter__(self) -> Dovecot:
        if os.geteuid() != 0:
            raise RuntimeError("the dovecot test server is set up for root (as `make test` runs)")
        self.root.chmod(0o755)
        mail = self.root / "mail"
        mail.mkdir()
        account = pwd.getpwnam("dovecot")
        os.chown(mail, account.pw_uid, account.pw_gid)
        (self.root / "passwd").write_text(f"{USER}:{{PLAIN}}{PASSWORD}::::::\n")
        config = self.root / "dovecot.conf"
        config.write_text(
            CONFIG.format(
                root=self.root, port=self.port, tls_port=self.tls_port, ssl=self._ssl_settings()
            )
        )
        self.process = subprocess.Popen(
            [DOVECOT, "-F", "-c", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 20
        while True:
            try:
                self.connect().logout()
                return self
            except (OSError, imaplib.IMAP4.error):
                if self.process.poll() is not None or time.monotonic() > deadline:
                    log = self.root / "dovecot.log"
                    self.__exit__()
                    raise RuntimeError(
                        "dovecot did not start: " + (log.read_text() if log.exists() else "")
                    ) from None
                time.sleep(0.1)

    def __exit__(self, *exc: object) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=20)
            self.process = None
        shutil.rmtree(self.root, ignore_errors=True)

    def connect(self) -> imaplib.IMAP4:
        client = imaplib.IMAP4("127.0.0.1", self.port, timeout=10)
        client.login(USER, PASSWORD)
        return client

    def append(self, data: bytes, folder: str = "INBOX") -> None:
        client = self.connect()
        try:
            status, _ = client.append(folder, None, None, data)
            assert status == "OK"
        finally:
            client.logout()

    def folder(self, name: str = "INBOX") -> list[bytes]:
        """The raw messages in a folder (an empty list if it does not exist)."""
        client = self.connect()
        try:
            status, _ = client.select(f'"{name}"', readonly=True)
            if status != "OK":
                return []
            _, found = client.uid("SEARCH", "ALL")
            messages = []
            for uid in found[0].split():
                _, fetched = client.uid("FETCH", uid, "(BODY.PEEK[])")
                item = fetched[0]
                assert isinstance(item, tuple)
                messages.append(item[1])
            return messages
        finally:
            client.logout()
