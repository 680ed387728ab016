"""The ledger commits in small batches: a claim and a record per batch, never fewer rows."""

from __future__ import annotations

from pathlib import Path

import pytest

from outreach.mail import send
from outreach.mail.send import CLAIM_BATCH

from .smtp_sink import ScriptedHandler, SinkController
from .test_ledger import SLUG, make_workspace


def test_the_ledger_commits_in_batches(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sink: tuple[ScriptedHandler, SinkController]
) -> None:
    from outreach.mail.ledger import DeliveryLedger

    handler, controller = sink
    workspace = make_workspace(tmp_path / "ws", controller.url, monkeypatch, count=60)
    transactions: list[int] = []
    real = DeliveryLedger._write

    def counting(
        self: DeliveryLedger, statements: list[tuple[str, dict[str, object]]]
    ) -> list[int]:
        transactions.append(len(statements))
        return real(self, statements)

    monkeypatch.setattr(DeliveryLedger, "_write", counting)
    report = send.send_edition(workspace, SLUG)
    assert report.counts["sent"] == 60 and len(handler.log) == 60
    # One claim and one record per batch of CLAIM_BATCH, not two commits per message.
    assert len(transactions) <= 2 * (60 // CLAIM_BATCH + 4), transactions
    assert sum(transactions) == 120  # still a claim and an outcome for every message
