"""The Postgres store: migrations, column-owning upserts, runs, sync from manifests."""
