"""Asset sources shared by generators: sprite shapes, MNIST, asset packs, body models."""
