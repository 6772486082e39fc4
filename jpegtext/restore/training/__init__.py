"""Training the TGJAR networks: data, losses, DAMSM matching, the two-stage trainer (DDP)
and its configuration."""
