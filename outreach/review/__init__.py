"""Guest transcript review: links and mail (requests), the page's view-model (page), guest edits
merged into new versions (merge), and what staff see and decide (report); `rules` says who may edit what."""
