"""Reusable test helpers: a real SMTP sink, a real `outreach serve` process, headless Chromium + axe-core."""
