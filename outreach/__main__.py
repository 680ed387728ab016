from outreach.cli import cli

cli(prog_name="outreach")
