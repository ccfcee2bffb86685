"""``pipeline review``: a small web app over the store for listening to clips, overruling the
machine's keep decision, rating MOS and calibrating the MOS judges against people.

Modules: ``queries`` (every SQL statement the pages run), ``decisions`` (writes: reviews and
ratings, upserted per person), ``audio`` (safe file lookup and the waveform/spectrogram PNG),
``sampling`` (the seeded, stratified rating sample), ``stats`` (correlations and bootstrap CIs),
``security`` (who may call, and CSRF), ``app`` (the FastAPI routes and templates).

Example::

    from pipeline.review.app import ReviewConfig, create_app
    app = create_app(ReviewConfig(store=store, datasets_dir=Path("work/datasets")))
"""
