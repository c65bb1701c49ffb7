"""``python -m streams worker -l info`` starts the same worker as ``faust -A streams.app``."""

from streams.app import main

if __name__ == "__main__":
    main()
