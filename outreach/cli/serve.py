"""`outreach serve` and `outreach export-site`: the public web face."""

from __future__ import annotations

from pathlib import Path

import click

from outreach.cli import pass_workspace
from outreach.workspace import Workspace


@click.command("serve")
@click.option("--host", help="Interface to listen on (default: [web] host, 127.0.0.1).")
@click.option("--port", type=click.IntRange(0, 65535), help="Port (default: [web] port, 8000).")
@click.option(
    "--dev", is_flag=True, help="Development: use an ephemeral signing key if none is set."
)
@pass_workspace
def serve(workspace: Workspace, host: str | None, port: int | None, dev: bool) -> None:
    """Serve the podcast pages, subscribe/confirm/unsubscribe, the archive, feeds and media.

    Needs OUTREACH_SECRET_KEY (or OUTREACH_SECRET_KEY_FILE); with --dev and no key, an ephemeral
    key is made and links in mail sent meanwhile stop working when the server stops. This is a
    small threaded server; in production run `outreach.web.wsgi:app` under waitress or gunicorn.

    \b
    Example:
        outreach serve --port 8000
        OUTREACH_WORKSPACE=. waitress-serve --listen=127.0.0.1:8000 outreach.web.wsgi:app
    """
    from werkzeug.serving import run_simple

    from outreach.secrets import read_secret
    from outreach.web import create_app

    ephemeral = dev and not read_secret("OUTREACH_SECRET_KEY", workspace_root=workspace.root)
    app = create_app(workspace, dev_key=ephemeral)
    host = host or workspace.settings.web.host
    port = workspace.settings.web.port if port is None else port
    if ephemeral:
        click.echo(
            "Development mode: using an ephemeral signing key (links in mail sent now stop "
            "working when the server stops). Set OUTREACH_SECRET_KEY for real use.",
            err=True,
        )
    click.echo(f"Serving {workspace.root} on http://{host}:{port}/ (Ctrl+C stops)", err=True)
    run_simple(host, port, app, threaded=True, use_reloader=False, use_debugger=False)


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
