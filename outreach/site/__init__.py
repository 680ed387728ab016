"""The podcast's public website: the show page and one page per published episode (`show`,
`episode`: what they show, and never drafts, unaccepted transcript versions or unnamed guests) and
their HTML and sitemap (`render`, the one renderer `outreach serve` and `export-site` both use)."""
