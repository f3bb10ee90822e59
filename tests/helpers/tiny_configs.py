"""Tiny configs of the LDS paper's baselines, for tests that run all three (a few steps on tiny data)."""

LDS_TINY = {
    "monet": dict(num_slots=3, latent_dim=4, unet_channels=4, unet_mlp=8, encoder_channels=(4, 4, 8, 8),
                  encoder_hidden=8, decoder_channels=4, decoder_layers=2, batch_size=4, val_size=8, eval_every=2,
                  log_every=1, checkpoint_every=2, eval_batch_size=10, sample_chunk=10, device="cpu", steps=2),
    "iodine": dict(num_slots=3, latent_dim=4, num_iters=2, refine_channels=(4, 4), refine_mlp=(8,), lstm_hidden=8,
                   decoder_channels=4, decoder_layers=2, batch_size=4, val_size=8, eval_every=2, log_every=1,
                   checkpoint_every=2, eval_batch_size=10, sample_chunk=10, device="cpu", steps=2),
    "mulmon": dict(num_slots=3, latent_dim=4, view_dim=3, view_hidden=8, projector_hidden=16, decoder_channels=4,
                   decoder_layers=2, refine_channels=(4, 8), refine_hidden=16, refine_features=8, lstm_hidden=8,
                   inner_iterations=2, max_observed=2, batch_size=2, val_size=10, eval_every=2, log_every=1,
                   checkpoint_every=2, eval_batch_size=2, device="cpu", steps=2),
}
