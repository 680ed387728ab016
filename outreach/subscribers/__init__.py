"""Subscribers and their consent: store (add, change, unsubscribe, erase, links), fields (what a
field may hold), csv_read/csv_import (spreadsheet import), export (GDPR access), queue (sign-ups and
the confirmation/welcome mail queue), preferences (the preference page's changes)."""
