"""outreach: publish the Digitalsamtal podcast, its transcripts and the Kraftsamling update."""

__version__ = "0.1.0"
