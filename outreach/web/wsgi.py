"""The app for a production WSGI server, configured from the environment.

    OUTREACH_WORKSPACE=/srv/outreach OUTREACH_SECRET_KEY=... \\
        waitress-serve --listen=127.0.0.1:8000 outreach.web.wsgi:app
    OUTREACH_WORKSPACE=/srv/outreach OUTREACH_SECRET_KEY_FILE=/etc/outreach/key \\
        gunicorn -w 2 -b 127.0.0.1:8000 outreach.web.wsgi:app

`OUTREACH_WORKSPACE` names the workspace (else the current folder); the signing key is required.
"""

from __future__ import annotations

import os

from outreach.web import create_app
from outreach.workspace import open_workspace

app = create_app(open_workspace(os.environ.get("OUTREACH_WORKSPACE")))
