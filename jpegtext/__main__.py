"""``python -m jpegtext`` runs the command-line interface."""

from jpegtext.cli import main

if __name__ == "__main__":
    main()
