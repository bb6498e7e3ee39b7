"""Entry point of the `pubsub` console script; the command line itself lives in `microcosm_pubsub.cli`."""
from microcosm_pubsub.cli import main


if __name__ == "__main__":
    raise SystemExit(main())
