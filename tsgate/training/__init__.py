"""Lightning training: batches, the DataModule, the LightningModule and the gated estimator."""
