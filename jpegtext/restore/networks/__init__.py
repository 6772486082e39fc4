"""The TGJAR networks (architectures only): text encoders, generator with GFM/LFM fusion,
discriminator, DAMSM image encoder, and their configs."""
