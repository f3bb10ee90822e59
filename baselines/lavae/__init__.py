"""LAVAE (Dittadi & Winther, 2019) and its fully convolutional beta-VAE baseline."""
