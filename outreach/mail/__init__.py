"""Mail: message building, transports (SMTP, outbox folder), DKIM, the send ledger and the send.

message (MIME and wire bytes), transport (SMTP pool, outbox), signing (DKIM), confirmation (the
double opt-in mail), lock (one send at a time), ledger (delivery rows and states), dispatch (rate
limit, retries, pause), edition_mail (one recipient's message), send (workers, test sends).
The only package that imports smtplib; it reads editions through `newsletter.edition` and
`newsletter.personalize`, never `newsletter.select` or `newsletter.render`.
"""
