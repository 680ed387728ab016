"""`outreach serve` and `outreach export-site`: the public web face."""

from __future__ import annotations

from pathlib import Path

import click

from outreach.cli import pass_workspace
from outreach.workspace import Workspace


@click.command("serve")
@click.option("--host", help="Interface to listen on (default: [web] host, 127.0.0.1).")
@click.option("--port", type=click.IntRange(1, 65535), help="Port (default: [web] port, 8000).")
@click.option(
    "--dev",
    is_flag=True,
    help="Development: Werkzeug's server, restarting on code changes; an ephemeral signing key "
    "if none is set.",
)
@pass_workspace
def serve(workspace: Workspace, host: str | None, port: int | None, dev: bool) -> None:
    """Serve the podcast pages, subscribe/confirm/unsubscribe, the archive, feeds and media.

    Runs waitress with [web] threads threads; put a TLS proxy (Caddy, nginx) in front. One
    access-log line per request goes to stderr, with the tokens of links replaced by [dold].
    Needs OUTREACH_SECRET_KEY (or OUTREACH_SECRET_KEY_FILE); with --dev and no key, an ephemeral
    key is made and links in mail sent meanwhile stop working when the server stops. Another
    WSGI server can run `outreach.web.wsgi:app`.

    \b
    Example:
        OUTREACH_SECRET_KEY_FILE=/etc/outreach/nyckel outreach serve --port 8000
        outreach serve --dev
    """
    from outreach.mail.confirmation import ConfirmationWorker
    from outreach.secrets import read_secret
    from outreach.web import create_app
    from outreach.web.serving import log_to_stderr, serve_development, serve_production

    ephemeral = dev and not read_secret("OUTREACH_SECRET_KEY", workspace_root=workspace.root)
    app = create_app(workspace, dev_key=ephemeral)
    host = host or workspace.settings.web.host
    port = workspace.settings.web.port if port is None else port
    log_to_stderr()
    if ephemeral:
        click.echo(
            "Development mode: using an ephemeral signing key (links in mail sent now stop "
            "working when the server stops). Set OUTREACH_SECRET_KEY for real use.",
            err=True,
        )
    # Confirmation mails leave from the database queue, so SMTP speed and outages never reach the
    # subscribe form; `outreach run-due` sends the same queue when no server runs.
    worker = ConfirmationWorker(workspace, app.extensions["outreach"].key)
    worker.start()
    try:
        if dev:
            click.echo(
                f"Serving {workspace.root} on http://{host}:{port}/ (development server)", err=True
            )
            serve_development(app, host, port)
            return
        threads = workspace.settings.web.threads
        click.echo(
            f"Serving {workspace.root} on http://{host}:{port}/ (waitress, {threads} threads; "
            "Ctrl+C stops)",
            err=True,
        )
        serve_production(app, host, port, threads, workspace.settings.web.trusted_proxy)
    finally:
        worker.stop()


@click.command("export-site")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@pass_workspace
def export_site(workspace: Workspace, directory: Path) -> None:
    """Write the static parts of the site (podcast pages, feeds, archive, media) to DIRECTORY.

    The show and episode pages, sitemap.xml, feeds, the newsletter archive and published media, in
    the layout `outreach serve` uses, so DIRECTORY can be published on any web host. Unchanged
    files are left as they are.

    \b
    Example:
        outreach export-site build/site && rsync -a build/site/ web:/var/www/
    """
    from outreach.web.export import export_site as export

    with click.progressbar(length=1, label="Exporting") as bar:

        def progress(done: float, total: float) -> None:
            bar.length = int(total)
            bar.update(int(done) - bar.pos)

        report = export(workspace, directory, progress=progress)
    click.echo(
        f"Exported to {directory}: {report.files} files written ({report.total_bytes} bytes)"
        + (f", {report.removed} unpublished episode folders removed" if report.removed else "")
    )


COMMANDS = [serve, export_site]
