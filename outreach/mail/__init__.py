"""Mail: message building, transports (SMTP, outbox folder), DKIM and the send ledger.

The only package that imports smtplib.
"""
