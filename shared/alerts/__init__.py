"""Stage 1, ingestion: the one alert shape (schemas), the producer formats (formats/),
who may post and in which scope (integration_auth), storing with deduplication (store),
acknowledge and resolve (lifecycle) and what follows a committed close (after_close),
listing and filtering (listing), change events such as deploys (changes), and an alert
as people read it (view). `ingest` is the one way in for every producer.

May import shared.core, and shared.notifications and shared.replies for what an
acknowledgement must cancel.
"""
