"""The Kraftsamling update: content (calls, events, recordings), select, render (Jinja2 + MJML),
edition files, personalize (placeholders, Recipient) and compose (the steps tied together)."""
